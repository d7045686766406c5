package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestLoadKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	content := fmt.Sprintf(`# API keys of the staging deployment
keys:
  - name: web
    key: "0123456789abcdef"
    scopes: [track, profile:read, track]
  - name: ops
    key: "sha256:%x"
    scopes: [admin]
`, sha256Sum("ops-key-0123456789"))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Names(); !slices.Equal(got, []string{"web", "ops"}) {
		t.Errorf("Names() = %v", got)
	}
	tests := []struct {
		key   string
		name  string
		scope Scope
		ok    bool
	}{
		{"0123456789abcdef", "web", ScopeTrack, true},
		{"0123456789abcdef", "web", ScopeProfileRead, true},
		{"0123456789abcdef", "web", ScopeCustomersWrite, false},
		{"ops-key-0123456789", "ops", ScopeCustomersWrite, true},
	}
	for _, tt := range tests {
		id := k.lookup(tt.key)
		if id == nil || id.name != tt.name || id.allows(tt.scope) != tt.ok {
			t.Errorf("lookup(%q) = %+v; want %s with %s allowed=%v", tt.key, id, tt.name, tt.scope, tt.ok)
		}
	}
	for _, bad := range []string{"", "0123456789abcde", "0123456789abcdef0", fmt.Sprintf("sha256:%x", sha256Sum("ops-key-0123456789"))} {
		if id := k.lookup(bad); id != nil {
			t.Errorf("lookup(%q) = %+v, want nil", bad, id)
		}
	}

	if _, err := LoadKeys(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadKeys(missing file) = %v, want an error naming the file", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	const good = `"0123456789abcdef"`
	tests := []struct {
		name, yaml, want string
	}{
		{"empty file", ``, "keys.yaml:1: empty file"},
		{"not a mapping", `- a`, "keys.yaml:1: expected a mapping"},
		{"invalid yaml", "keys: [", "keys.yaml: invalid YAML"},
		{"unknown top key", "key: []", `keys.yaml:1: unknown key "key"`},
		{"no keys", "keys: []", "keys.yaml:1: 'keys' must list at least one key"},
		{"keys not a list", "keys: {a: b}", "keys.yaml:1: 'keys' must be a list"},
		{"keys twice", "keys:\n  - {name: web, key: " + good + ", scopes: [track]}\nkeys:\n  - {name: app, key: '0123456789abcdefg', scopes: [track]}",
			"keys.yaml:3: 'keys' given again (first at line 1); list every key under one 'keys'"},
		{"entry not a mapping", "keys:\n  - web", "keys.yaml:2: keys[0]: must be a mapping"},
		{"unknown field", "keys:\n  - {name: web, key: " + good + ", scopes: [track], scope: admin}", `keys.yaml:2: keys[0]: unknown field "scope"`},
		{"missing name", "keys:\n  - {key: " + good + ", scopes: [track]}", "keys.yaml:2: keys[0]: name is required"},
		{"empty key", "keys:\n  - {name: web, key: '', scopes: [track]}", `keys.yaml:2: keys[0] ("web"): key is required`},
		{"short key", "keys:\n  - {name: web, key: short, scopes: [track]}", `keys.yaml:2: keys[0] ("web"): key must be at least 16 characters, got 5`},
		{"key with space", "keys:\n  - {name: web, key: '0123456789 abcdef', scopes: [track]}", `keys[0] ("web"): key must not contain spaces`},
		{"bad digest", "keys:\n  - {name: web, key: 'sha256:abc', scopes: [track]}", `keys[0] ("web"): key "sha256:abc"…: a sha256: key must be followed by 64 hex digits`},
		{"no scopes", "keys:\n  - {name: web, key: " + good + "}", `keys[0] ("web"): scopes must list at least one of track, profile:read, customers:write, admin`},
		{"unknown scope", "keys:\n  - {name: web, key: " + good + ", scopes: [track, write]}", `keys.yaml:2: keys[0] ("web"): unknown scope "write": use track, profile:read, customers:write, admin`},
		{"scopes not a list", "keys:\n  - {name: web, key: " + good + ", scopes: {a: b}}", "keys.yaml:2: keys[0]: line 2: cannot unmarshal"},
		{"duplicate name", "keys:\n  - {name: web, key: " + good + ", scopes: [track]}\n  - {name: web, key: '0123456789abcdefg', scopes: [track]}",
			`keys.yaml:3: keys[1] ("web"): name "web" is already used by keys[0]; names must be unique`},
		{"duplicate key", "keys:\n  - {name: web, key: " + good + ", scopes: [track]}\n  - {name: app, key: " + good + ", scopes: [track]}",
			`keys.yaml:3: keys[1] ("app"): same key as keys[0] ("web")`},
		{"duplicate key as digest", fmt.Sprintf("keys:\n  - {name: web, key: %s, scopes: [track]}\n  - {name: app, key: 'sha256:%x', scopes: [track]}", good, sha256Sum("0123456789abcdef")),
			`keys[1] ("app"): same key as keys[0] ("web")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeys([]byte(tt.yaml), "keys.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKeys error = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q reveals a key", err)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
	}
	for _, tt := range tests {
		got, ok := bearerToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add([]byte("keys:\n  - {name: web, key: \"0123456789abcdef\", scopes: [track, profile:read, track]}\n"))
	f.Add([]byte(fmt.Sprintf("# staging\nkeys:\n  - name: app\n    key: 'app-key-0123456789'\n    scopes: [customers:write]\n  - name: ops\n    key: \"sha256:%x\"\n    scopes: [admin]\n",
		sha256Sum("ops-key-0123456789"))))
	f.Add([]byte("keys:\n  - {name: a, key: 'aaaaaaaaaaaaaaaa', scopes: [track]}\n  - {name: b, key: 'bbbbbbbbbbbbbbbb', scopes: [profile:read, customers:write]}\n"))
	for _, bad := range []string{
		"", "- a", "keys: [", "key: []", "keys: []", "keys: {a: b}", "keys:\n  - web",
		"keys:\n  - {name: web, key: short, scopes: [track]}",
		"keys:\n  - {name: web, key: 'sha256:abc', scopes: [track]}",
		"keys:\n  - {name: web, key: '0123456789abcdef', scopes: [write]}",
		"keys:\n  - {name: web, key: '0123456789abcdef', scopes: [track], scope: admin}",
		"keys:\n  - {name: web, key: '0123456789abcdef', scopes: [track]}\n  - {name: web, key: '0123456789abcdefg', scopes: [track]}",
		"keys:\n  - {name: web, key: '0123456789abcdef', scopes: [track]}\n  - {name: app, key: '0123456789abcdef', scopes: [track]}",
		"keys:\n  - {name: web, key: '0123456789abcdef', scopes: [track]}\nkeys:\n  - {name: app, key: '0123456789abcdefg', scopes: [track]}",
	} {
		f.Add([]byte(bad))
	}
	// Each Kairos method and the scope it needs; any other method needs admin.
	methods := map[string]Scope{"/kairos.v1.Kairos/NotYetInKairosScopes": ScopeAdmin}
	for m, sc := range kairosScopes {
		methods[m] = sc
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeys(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "api keys: fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(k.entries) == 0 {
			t.Fatal("parsed no keys without an error")
		}
		for _, e := range k.entries {
			if e.name == "" || len(e.scopes) == 0 {
				t.Fatalf("key %q with scopes %q", e.name, e.scopes)
			}
			for _, sc := range e.scopes {
				if !slices.Contains(allScopes, sc) {
					t.Fatalf("key %q has unknown scope %q", e.name, sc)
				}
			}
		}
		// The file read independently: each key it lists in plain text, sent
		// as a client would, authenticates as its entry, with its scopes.
		var file keyFile
		if err := yaml.Unmarshal(data, &file); err != nil {
			t.Fatalf("ParseKeys accepted a file yaml.Unmarshal rejects: %v", err)
		}
		if len(file.Keys) != len(k.entries) {
			t.Fatalf("parsed %d keys, the file lists %d", len(k.entries), len(file.Keys))
		}
		s := &Server{keys: k}
		for i, fe := range file.Keys {
			if k.entries[i].name != fe.Name {
				t.Fatalf("keys[%d] parsed as %q, the file names it %q", i, k.entries[i].name, fe.Name)
			}
			if strings.HasPrefix(fe.Key, sha256Prefix) {
				continue
			}
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+fe.Key))
			for m, sc := range methods {
				allowed := slices.Contains(fe.Scopes, string(sc)) || slices.Contains(fe.Scopes, string(ScopeAdmin))
				switch err := s.authorize(ctx, m); {
				case allowed && err != nil:
					t.Fatalf("key %q (%q) calling %s: %v, want it allowed", fe.Name, fe.Key, m, err)
				case !allowed && status.Code(err) != codes.PermissionDenied:
					t.Fatalf("key %q (%q) calling %s: %v, want PermissionDenied", fe.Name, fe.Key, m, err)
				}
			}
		}
	})
}
