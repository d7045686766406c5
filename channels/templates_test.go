package channels

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var known = Known{Features: []string{"cart_value", "days_since_last_order"}}

func loadTestdata(t *testing.T) *TemplateSet {
	t.Helper()
	set, err := LoadTemplates(os.DirFS("testdata"), "templates", known)
	if err != nil {
		t.Fatalf("LoadTemplates(testdata/templates):\n%v", err)
	}
	return set
}

func sampleData() Data {
	return Data{
		Customer: CustomerData{
			ID: "c-42", Email: "ada@example.com", Phone: "+4915112345678", Timezone: "Europe/Berlin",
			Attributes: map[string]string{"first_name": "Ada", "tier": "gold"},
		},
		Features: map[string]float64{"cart_value": 42.5, "days_since_last_order": 3},
		Scores:   ScoreData{Churn: 0.71, Propensity: 0.25, NextBestAction: map[string]float64{"buy": 0.6, "browse": 0.4}},
		Offer:    OfferData{Name: "reminder", Vars: map[string]string{"discount": "15%", "code": "BACK15"}},
		Campaign: "cart_recovery", DecisionID: "d-7",
		Links: Links{
			Unsubscribe: "https://kairos.example/u/tok",
			Wrap:        func(u string) string { return "https://kairos.example/c/tok?u=" + u },
		},
	}
}

func TestLoadTemplates(t *testing.T) {
	set := loadTestdata(t)
	want := []TemplateKey{
		{"cart_recovery", "discount", "email"},
		{"cart_recovery", "reminder", "email"},
		{"cart_recovery", "reminder", "push"},
		{"cart_recovery", "reminder", "sms"},
		{"winback", "comeback", "inapp"},
		{"winback", "comeback", "push"},
	}
	if diff := cmp.Diff(want, set.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}
	for _, k := range want {
		if !set.Has(k.Campaign, k.Offer, k.Channel) {
			t.Errorf("Has(%s) = false", k)
		}
	}
	for _, k := range []TemplateKey{{"cart_recovery", "reminder", "webhook"}, {"cart_recovery", "reminder", "inapp"}, {"winback", "reminder", "push"}} {
		if set.Has(k.Campaign, k.Offer, k.Channel) {
			t.Errorf("Has(%s) = true", k)
		}
	}
}

// TestRenderGolden renders every template of testdata/templates; run with
// -update to rewrite testdata/templates.golden.
func TestRenderGolden(t *testing.T) {
	set := loadTestdata(t)
	var b strings.Builder
	for _, k := range set.Keys() {
		data := sampleData()
		data.Campaign, data.Offer.Name = k.Campaign, k.Offer
		r, err := set.Render(k.Campaign, k.Offer, k.Channel, data)
		if err != nil {
			t.Fatalf("Render(%s): %v", k, err)
		}
		fmt.Fprintf(&b, "=== %s\n", k)
		for _, f := range []struct{ name, v string }{
			{"subject", r.Subject}, {"title", r.Title}, {"text", r.Text}, {"html", r.HTML}, {"body", r.Body},
		} {
			if f.v != "" {
				fmt.Fprintf(&b, "--- %s\n%s\n", f.name, f.v)
			}
		}
	}
	got := b.String()
	const golden = "testdata/templates.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("rendered (-want +got):\n%s", diff)
	}
}

func TestRenderParts(t *testing.T) {
	set := loadTestdata(t)
	r, err := set.Render("cart_recovery", "reminder", "email", sampleData())
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Ada, your cart is waiting" {
		t.Errorf("Subject = %q", r.Subject)
	}
	for _, want := range []string{"you left 42.50 EUR in your cart 3 days ago.", "We miss you!",
		"https://kairos.example/c/tok?u=https://shop.example/cart", "code: BACK15", "discount: 15%",
		"Unsubscribe: https://kairos.example/u/tok", "(cart_recovery/reminder d-7)"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("Text lacks %q:\n%s", want, r.Text)
		}
	}
	for _, want := range []string{"<h1>Hi Ada!</h1>", `href="https://kairos.example/c/tok?u=https://shop.example/cart"`,
		`<a href="https://kairos.example/u/tok">Unsubscribe</a>`} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
		}
	}
	if r.Title != "" || r.Body != "" {
		t.Errorf("email set Title %q, Body %q", r.Title, r.Body)
	}

	var m Message
	r.Fill(&m)
	if m.Subject != r.Subject || m.Text != r.Text || m.HTML != r.HTML {
		t.Errorf("Fill(email) = %+v", m)
	}
	sms, err := set.Render("cart_recovery", "reminder", "sms", sampleData())
	if err != nil {
		t.Fatal(err)
	}
	m = Message{}
	sms.Fill(&m)
	if m.Text != sms.Body || m.Text == "" || strings.HasSuffix(m.Text, "\n") {
		t.Errorf("Fill(sms): Text = %q, Body %q", m.Text, sms.Body)
	}

	// A customer without the attribute: missing map entries are zero, so
	// the {{with}} guards take their else branch.
	data := sampleData()
	data.Customer.Attributes = nil
	r, err = set.Render("cart_recovery", "reminder", "email", data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Your cart is waiting" || !strings.HasPrefix(r.Text, "Hi there,") {
		t.Errorf("without first_name: Subject %q, Text %q", r.Subject, r.Text)
	}
	// Without a Wrap, Click leaves URLs alone.
	data.Links.Wrap = nil
	r, err = set.Render("cart_recovery", "reminder", "email", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "Back to your cart: https://shop.example/cart\n") {
		t.Errorf("Text without Wrap:\n%s", r.Text)
	}
}

func TestRenderEscaping(t *testing.T) {
	set := loadTestdata(t)
	data := sampleData()
	data.Customer.Attributes["first_name"] = `<script>alert("x")</script>`
	data.Offer.Name = `"><img src=x onerror=alert(1)>`
	r, err := set.Render("cart_recovery", "reminder", "email", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || strings.Contains(r.HTML, "<img") {
		t.Errorf("HTML part is not escaped:\n%s", r.HTML)
	}
	if !strings.Contains(r.HTML, "<h1>Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;!</h1>") {
		t.Errorf("HTML part lacks the escaped attribute:\n%s", r.HTML)
	}
	if !strings.Contains(r.Text, `Hi <script>alert("x")</script>,`) {
		t.Errorf("text part is escaped, want it verbatim:\n%s", r.Text)
	}
	if r.Subject != `<script>alert("x")</script>, your cart is waiting` {
		t.Errorf("Subject = %q, want it verbatim", r.Subject)
	}

	// A URL from the data cannot smuggle javascript: into an href.
	data = sampleData()
	data.Links.Wrap = func(string) string { return "javascript:alert(1)" }
	r, err = set.Render("cart_recovery", "reminder", "email", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "javascript:") {
		t.Errorf("HTML part has a javascript: URL:\n%s", r.HTML)
	}
}

func TestRenderOneLine(t *testing.T) {
	set := loadTestdata(t)
	data := sampleData()
	data.Customer.Attributes["first_name"] = "Ada\r\nBcc: everyone@example.com\n"
	r, err := set.Render("cart_recovery", "reminder", "email", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Ada Bcc: everyone@example.com , your cart is waiting"; r.Subject != want {
		t.Errorf("Subject = %q, want %q", r.Subject, want)
	}
}

func TestRenderMissing(t *testing.T) {
	set := loadTestdata(t)
	for _, k := range []TemplateKey{{"cart_recovery", "reminder", "inapp"}, {"winback", "nope", "push"}, {"cart_recovery", "reminder", "webhook"}} {
		_, err := set.Render(k.Campaign, k.Offer, k.Channel, sampleData())
		if !errors.Is(err, ErrNoTemplate) {
			t.Errorf("Render(%s) = %v, want ErrNoTemplate", k, err)
			continue
		}
		for _, s := range []string{k.Campaign, k.Offer, k.Channel} {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Errorf("Render(%s) = %q, does not name %q", k, err, s)
			}
		}
	}
}

// tree builds a template tree under "t" from (path, source) pairs; valid
// required companions are added for email unless present.
func tree(files ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(files); i += 2 {
		fsys["t/"+files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return fsys
}

func TestLoadTemplatesRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fsys  fstest.MapFS
		wants []string // substrings of the error
	}{
		{"unknown channel", tree("c/o/fax.body.tmpl", "hi"),
			[]string{"t/c/o/fax.body.tmpl", `unknown channel "fax"`}},
		{"webhook", tree("c/o/webhook.body.tmpl", "hi"),
			[]string{"t/c/o/webhook.body.tmpl", `channel "webhook" is not templated`}},
		{"unknown part", tree("c/o/email.footer.tmpl", "hi"),
			[]string{"t/c/o/email.footer.tmpl", `unknown part "footer" for channel email (parts: subject, text, html)`}},
		{"sms has no title", tree("c/o/sms.title.tmpl", "hi", "c/o/sms.body.tmpl", "hi"),
			[]string{"t/c/o/sms.title.tmpl", `unknown part "title" for channel sms`}},
		{"no part", tree("c/o/email.tmpl", "hi"),
			[]string{"t/c/o/email.tmpl", "<channel>.<part>.tmpl"}},
		{"too shallow", tree("c/email.subject.tmpl", "hi"),
			[]string{"t/c/email.subject.tmpl", "not at <campaign>/<offer>/<channel>.<part>.tmpl"}},
		{"too deep", tree("c/o/x/sms.body.tmpl", "hi"),
			[]string{"t/c/o/x/sms.body.tmpl", "not at"}},
		{"parse error", tree("c/o/sms.body.tmpl", "line one\nline two {{.Customer.ID\n"),
			[]string{"template: t/c/o/sms.body.tmpl:2:"}},
		{"unknown function", tree("c/o/sms.body.tmpl", "\n\n{{shout .Campaign}}"),
			[]string{"t/c/o/sms.body.tmpl:3:", `"shout" not defined`}},
		{"unknown variable", tree("c/o/email.subject.tmpl", "Hi", "c/o/email.text.tmpl", "Hi\n\nthere {{.Customer.Nmae}}\n"),
			[]string{"t/c/o/email.text.tmpl:3: unknown variable .Customer.Nmae: .Customer has no field Nmae (it has Attributes, Email, ID, Phone, Timezone)"}},
		{"unknown top-level variable", tree("c/o/sms.body.tmpl", "{{.Customer.ID}} {{.Customr.ID}}"),
			[]string{"t/c/o/sms.body.tmpl:1: unknown variable .Customr: . has no field Customr"}},
		{"unknown feature", tree("c/o/push.body.tmpl", "{{.Features.cart_value}}\n{{.Features.cart_vlaue}}"),
			[]string{"t/c/o/push.body.tmpl:2:", "unknown feature cart_vlaue in .Features.cart_vlaue (known: cart_value, days_since_last_order)"}},
		{"unknown variable in html", tree("c/o/email.subject.tmpl", "s", "c/o/email.text.tmpl", "t", "c/o/email.html.tmpl", "<p>\n{{.Offer.Titel}}</p>"),
			[]string{"t/c/o/email.html.tmpl:2:", "unknown variable .Offer.Titel"}},
		{"in an untaken branch", tree("c/o/sms.body.tmpl", "{{if false}}{{.Nope}}{{end}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable .Nope"}},
		{"under with", tree("c/o/sms.body.tmpl", "{{with .Customer}}{{.Email}} {{.Nmae}}{{end}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable .Nmae: . has no field Nmae (it has Attributes, Email, ID, Phone, Timezone)"}},
		{"through a variable", tree("c/o/sms.body.tmpl", "{{$c := .Customer}}{{$c.Nmae}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable $c.Nmae: $c has no field Nmae"}},
		{"through $ under range", tree("c/o/sms.body.tmpl", "{{range .Offer.Vars}}{{.}} {{$.Ofer.Name}}{{end}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable $.Ofer"}},
		{"field of a range element", tree("c/o/sms.body.tmpl", "{{range $k, $v := .Offer.Vars}}{{$v.X}}{{end}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable $v.X: $v is a value and has no fields"}},
		{"range over a record", tree("c/o/sms.body.tmpl", "{{range .Customer}}{{end}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "cannot range over .Customer"}},
		{"field of a value", tree("c/o/sms.body.tmpl", "{{.Campaign.Name}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable .Campaign.Name: .Campaign is a value"}},
		{"in a called template", tree("c/o/sms.body.tmpl", "{{define \"greet\"}}\nHi {{.Nmae}}{{end}}{{template \"greet\" .Customer}}"),
			[]string{"t/c/o/sms.body.tmpl:2:", "unknown variable .Nmae: . has no field Nmae"}},
		{"undefined template", tree("c/o/sms.body.tmpl", "{{template \"footer\" .}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", `no template "footer" is defined`}},
		{"Click without URL", tree("c/o/sms.body.tmpl", "{{.Links.Click}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", ".Links.Click takes 1 argument(s), got 0"}},
		{"Click as an argument", tree("c/o/sms.body.tmpl", "{{printf \"%s\" .Links.Click}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", ".Links.Click takes 1 argument(s), got 0"}},
		{"Wrap is not for templates", tree("c/o/sms.body.tmpl", "{{call .Links.Wrap \"https://x\"}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", "unknown variable .Links.Wrap"}},
		{"arguments to a field", tree("c/o/sms.body.tmpl", "{{.Campaign \"x\"}}"),
			[]string{"t/c/o/sms.body.tmpl:1:", ".Campaign is not a method"}},
		{"html that cannot be escaped", tree("c/o/email.subject.tmpl", "s", "c/o/email.text.tmpl", "t", "c/o/email.html.tmpl", `<a href="{{.Links.Unsubscribe}}`),
			[]string{"html/template:t/c/o/email.html.tmpl", "ends in a non-text context"}},
		{"missing required part", tree("c/o/email.subject.tmpl", "s", "c/o/email.html.tmpl", "<p>h</p>"),
			[]string{"t/c/o/email.text.tmpl: missing text (required for channel email)"}},
		{"every problem reported", tree("a/o/sms.body.tmpl", "{{.Nope}}", "b/o/fax.body.tmpl", "x", "c/o/sms.body.tmpl", "{{"),
			[]string{"t/a/o/sms.body.tmpl:1:", "t/b/o/fax.body.tmpl", "t/c/o/sms.body.tmpl:1:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := LoadTemplates(tc.fsys, "t", known)
			if err == nil {
				t.Fatalf("LoadTemplates accepted the tree (keys %v)", set.Keys())
			}
			if set != nil {
				t.Error("LoadTemplates returned a set with its error")
			}
			t.Log(err)
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestLoadTemplatesAccepts(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{{.Links.Click "https://x.example/"}}`, "https://kairos.example/c/tok?u=https://x.example/"},
		{`{{"https://x.example/" | .Links.Click}}`, "https://kairos.example/c/tok?u=https://x.example/"},
		{`{{(.Links).Click "https://x.example/"}}`, "https://kairos.example/c/tok?u=https://x.example/"},
		{`{{range $k, $v := .Features}}{{$k}}={{$v}} {{end}}`, "cart_value=42.5 days_since_last_order=3 "},
		{`{{range .Scores.NextBestAction}}{{.}} {{end}}`, "0.4 0.6 "},
		{`{{with $a := .Customer.Attributes}}{{$a.tier}}{{end}}`, "gold"},
		{`{{with .Customer}}{{.Email}} {{$.Campaign}}{{end}}`, "ada@example.com cart_recovery"},
		{`{{index .Customer.Attributes "first_name"}}`, "Ada"},
		{`{{.Customer.Attributes.not_there}}|{{.Offer.Vars.nope}}|{{.Scores.NextBestAction.nope}}`, "||0"},
		{`{{printf "%.1f" .Features.cart_value}}`, "42.5"},
		{`{{block "x" .Offer}}{{.Name}}{{end}}`, "reminder"},
		{`{{(.Customer).Email}}`, "ada@example.com"},
		{`{{len .Customer.Attributes}}`, "2"},
		{`{{$x := .Customer}}{{$x = .Offer}}{{$x.Name}}`, "reminder"},
		{`{{if and .Customer.Email (gt .Features.cart_value 10.0)}}yes{{end}}`, "yes"},
		{`{{.}}`, ""}, // prints the whole Data; only checked to load
		{"{{/* only a comment */}}", ""},
	} {
		set, err := LoadTemplates(tree("c/o/sms.body.tmpl", tc.src), "t", known)
		if err != nil {
			t.Errorf("LoadTemplates(%s): %v", tc.src, err)
			continue
		}
		r, err := set.Render("c", "o", "sms", sampleData())
		if err != nil {
			t.Errorf("Render(%s): %v", tc.src, err)
			continue
		}
		if tc.want != "" && r.Body != tc.want {
			t.Errorf("Render(%s) = %q, want %q", tc.src, r.Body, tc.want)
		}
	}
}

// TestDataShapeMatchesData checks that the names the checker allows are
// exactly the fields of Data (less Links.Wrap), with matching kinds.
func TestDataShapeMatchesData(t *testing.T) {
	var check func(path string, s *shape, typ reflect.Type)
	check = func(path string, s *shape, typ reflect.Type) {
		switch s.kind {
		case shapeRecord:
			if typ.Kind() != reflect.Struct {
				t.Errorf("%s: shape is a record, type is %v", path, typ)
				return
			}
			for name, f := range s.fields {
				if f.kind == shapeMethod {
					m, ok := typ.MethodByName(name)
					if !ok || m.Type.NumIn() != 1+f.nargs {
						t.Errorf("%s.%s: no method with %d arguments", path, name, f.nargs)
					}
					continue
				}
				sf, ok := typ.FieldByName(name)
				if !ok {
					t.Errorf("%s.%s: in the shape, not in %v", path, name, typ)
					continue
				}
				check(path+"."+name, f, sf.Type)
			}
			for i := range typ.NumField() {
				sf := typ.Field(i)
				if _, ok := s.fields[sf.Name]; !ok && path+"."+sf.Name != ".Links.Wrap" {
					t.Errorf("%s.%s: in %v, not in the shape", path, sf.Name, typ)
				}
			}
		case shapeMap:
			if typ.Kind() != reflect.Map || typ.Key().Kind() != reflect.String {
				t.Errorf("%s: shape is a map, type is %v", path, typ)
				return
			}
			check(path+".<key>", s.elem, typ.Elem())
		case shapeLeaf:
			if k := typ.Kind(); k != reflect.String && k != reflect.Float64 {
				t.Errorf("%s: shape is a value, type is %v", path, typ)
			}
		default:
			t.Errorf("%s: unexpected shape kind %d", path, s.kind)
		}
	}
	check("", dataShape(known), reflect.TypeFor[Data]())
}

func TestRenderConcurrent(t *testing.T) {
	set := loadTestdata(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for _, k := range set.Keys() {
					if _, err := set.Render(k.Campaign, k.Offer, k.Channel, sampleData()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	set, err := LoadTemplates(os.DirFS("testdata"), "templates", known)
	if err != nil {
		b.Fatal(err)
	}
	data := sampleData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Render("cart_recovery", "reminder", "email", data); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleTemplateSet_Render() {
	fsys := fstest.MapFS{
		"templates/cart_recovery/reminder/sms.body.tmpl": {Data: []byte(
			`{{with .Customer.Attributes.first_name}}{{.}}, y{{else}}Y{{end}}our cart ({{printf "%.2f" .Features.cart_value}} EUR) is waiting: {{.Links.Click "https://shop.example/cart"}}` + "\n")},
	}
	set, err := LoadTemplates(fsys, "templates", Known{Features: []string{"cart_value"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := set.Render("cart_recovery", "reminder", "sms", Data{
		Customer: CustomerData{ID: "c-1", Attributes: map[string]string{"first_name": "Ada"}},
		Features: map[string]float64{"cart_value": 42.5},
	})
	fmt.Printf("%q %v\n", r.Body, err)

	_, err = LoadTemplates(fstest.MapFS{
		"templates/cart_recovery/reminder/sms.body.tmpl": {Data: []byte("Hi\n{{.Customer.Nmae}}\n")},
	}, "templates", Known{})
	fmt.Println(err)
	// Output:
	// "Ada, your cart (42.50 EUR) is waiting: https://shop.example/cart" <nil>
	// channels: templates: templates/cart_recovery/reminder/sms.body.tmpl:2: unknown variable .Customer.Nmae: .Customer has no field Nmae (it has Attributes, Email, ID, Phone, Timezone)
}
