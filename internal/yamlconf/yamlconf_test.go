package yamlconf_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"kairos/internal/yamlconf"
)

// root parses src and returns its top node, aliases resolved.
func root(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml.Unmarshal(%q): %v", src, err)
	}
	return yamlconf.Deref(doc.Content[0])
}

// texts renders errs as their Error texts.
func texts(errs []*yamlconf.Error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  yamlconf.Error
		want string
	}{
		{yamlconf.Error{File: "c.yaml", Line: 14, Column: 11, Path: "a.b", Msg: "bad"}, "c.yaml:14:11: a.b: bad"},
		{yamlconf.Error{File: "c.yaml", Line: 3, Msg: "bad"}, "c.yaml:3: bad"},
		{yamlconf.Error{File: "c.yaml", Line: 1, Path: "a", Msg: "bad"}, "c.yaml:1: a: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorf(t *testing.T) {
	n := root(t, "a: {b: 1}")
	v := n.Content[1]
	if diff := cmp.Diff(&yamlconf.Error{File: "f", Line: 1, Column: 4, Path: "a", Msg: "5% off"},
		yamlconf.Errorf("f", v, "a", "%d%% off", 5)); diff != "" {
		t.Errorf("at a node (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&yamlconf.Error{File: "f", Line: 1, Msg: "empty"},
		yamlconf.Errorf("f", nil, "", "empty")); diff != "" {
		t.Errorf("without a node (-want +got):\n%s", diff)
	}
}

func TestFromYAML(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"a: 1\nb: [\n", "f.yaml:2: invalid YAML: did not find expected node content"},
		{"a: b: c", "f.yaml:1: invalid YAML: mapping values are not allowed in this context"},
	}
	for _, tt := range tests {
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(tt.src), &doc)
		if err == nil {
			t.Fatalf("yaml.Unmarshal(%q) succeeded", tt.src)
		}
		if got := yamlconf.FromYAML("f.yaml", err).Error(); got != tt.want {
			t.Errorf("FromYAML(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
	var x struct{ A int }
	err := yaml.Unmarshal([]byte("a: text"), &x)
	if got, want := yamlconf.FromYAML("f.yaml", err).Error(), "f.yaml:1: line 1: cannot unmarshal !!str `text` into int"; got != want {
		t.Errorf("FromYAML(type error) = %q, want %q", got, want)
	}
}

func TestDeref(t *testing.T) {
	n := root(t, "a: &x {b: 1}\nc: *x")
	if got := yamlconf.Deref(n.Content[3]); got != n.Content[1] {
		t.Errorf("Deref(*x) = %v, want the anchored mapping", got)
	}
	if yamlconf.Deref(nil) != nil {
		t.Error("Deref(nil) is not nil")
	}
}

func TestJoinPath(t *testing.T) {
	if got := yamlconf.JoinPath("", "a"); got != "a" {
		t.Errorf(`JoinPath("", "a") = %q`, got)
	}
	if got := yamlconf.JoinPath("a[0]", "b"); got != "a[0].b" {
		t.Errorf(`JoinPath("a[0]", "b") = %q`, got)
	}
}

func TestMapping(t *testing.T) {
	n := root(t, "base: &b {x: 1}\nx: 1\nz: 2\nx: 3\nn: null\nref: *b\n[k]: 4")
	m, errs := yamlconf.Mapping("f", n, "", "base", "x", "n", "ref")
	want := []string{
		`f:3:1: z: unknown key "z"; the file takes base, x, n, ref`,
		`f:4:1: x: key "x" is given twice`,
		`f:7:1: unknown key ""; the file takes base, x, n, ref`,
	}
	if diff := cmp.Diff(want, texts(errs)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(m) != 3 || m["x"] == nil || m["x"].Value != "1" || m["base"] == nil || m["ref"] != m["base"] {
		t.Errorf("values = %v, want base, x = 1 and ref resolved to base (n, null, absent)", m)
	}

	_, errs = yamlconf.Mapping("f", n, "sec", "base")
	if got, want := errs[0].Error(), `f:2:1: sec.x: unknown key "x"; sec takes base`; got != want {
		t.Errorf("first problem under a path = %q, want %q", got, want)
	}

	for _, tt := range []struct{ path, want string }{
		{"", "f:1:1: the file must be a mapping with keys a, b"},
		{"sec", "f:1:1: sec: must be a mapping with keys a, b"},
	} {
		m, errs := yamlconf.Mapping("f", root(t, "[1, 2]"), tt.path, "a", "b")
		if m != nil || len(errs) != 1 || errs[0].Error() != tt.want {
			t.Errorf("Mapping(list, %q) = %v, %q; want nil, %q", tt.path, m, texts(errs), tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	n := root(t, "a: 1\nq: 2")
	_, errs := yamlconf.Fields("f", n, "ch", []string{"a"}, func(k string) string { return k + " belongs elsewhere" })
	if diff := cmp.Diff([]string{"f:2:1: ch.q: q belongs elsewhere"}, texts(errs)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestScalarAndNumber(t *testing.T) {
	n := root(t, "s: text\nl: [1]\nf: 1.5\nnan: .nan\nbig: 1e999")
	v := func(i int) *yaml.Node { return n.Content[2*i+1] }
	if s, e := yamlconf.Scalar("f", v(0), "s"); s != "text" || e != nil {
		t.Errorf("Scalar(text) = %q, %v", s, e)
	}
	if _, e := yamlconf.Scalar("f", v(1), "l"); e == nil || e.Error() != "f:2:4: l: must be a single value, not a list or mapping" {
		t.Errorf("Scalar(list) = %v", e)
	}
	if f, e := yamlconf.Number("f", v(2), "f"); f != 1.5 || e != nil {
		t.Errorf("Number(1.5) = %v, %v", f, e)
	}
	for i, want := range map[int]string{
		1: "f:2:4: l: must be a single value, not a list or mapping",
		3: `f:4:6: nan: ".nan" is not a finite number`,
		4: `f:5:6: big: "1e999" is not a finite number`,
	} {
		if f, e := yamlconf.Number("f", v(i), n.Content[2*i].Value); f != 0 || e == nil || e.Error() != want {
			t.Errorf("Number = %v, %v; want 0, %q", f, e, want)
		}
	}
}
