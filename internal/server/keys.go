package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Scope is a permission an API key grants.
type Scope string

// The scopes an API key can hold.
const (
	// ScopeTrack allows Track.
	ScopeTrack Scope = "track"
	// ScopeProfileRead allows GetProfile.
	ScopeProfileRead Scope = "profile:read"
	// ScopeCustomersWrite allows UpsertCustomer.
	ScopeCustomersWrite Scope = "customers:write"
	// ScopeAdmin allows every RPC.
	ScopeAdmin Scope = "admin"
)

var allScopes = []Scope{ScopeTrack, ScopeProfileRead, ScopeCustomersWrite, ScopeAdmin}

// MinKeyLen is the shortest plain-text API key LoadKeys accepts.
const MinKeyLen = 16

// sha256Prefix marks a key given as the hex SHA-256 digest of the real key.
const sha256Prefix = "sha256:"

// Keys is a set of API keys, each with a name and scopes. It is immutable
// and safe for concurrent use.
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	name   string
	digest [sha256.Size]byte
	scopes []Scope
}

// keyFile is the YAML layout of an API keys file.
type keyFile struct {
	Keys []keyFileEntry `yaml:"keys"`
}

type keyFileEntry struct {
	Name   string   `yaml:"name"`
	Key    string   `yaml:"key"`
	Scopes []string `yaml:"scopes"`
}

// LoadKeys reads an API keys file:
//
//	keys:
//	  - name: web
//	    key: "a-long-random-secret"      # at least 16 characters
//	    scopes: [track, profile:read]
//	  - name: backend
//	    key: "sha256:<64 hex digits>"    # the SHA-256 of the key, not the key
//	    scopes: [admin]
//
// Scopes are track, profile:read, customers:write and admin (everything).
// Errors name the file, the line and entry, and the rule broken.
func LoadKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	return ParseKeys(b, path)
}

// ParseKeys parses the contents of an API keys file (see LoadKeys); file
// names it in errors.
func ParseKeys(data []byte, file string) (*Keys, error) {
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("api keys: %s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("api keys: %s: invalid YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, fail(1, "empty file: expected a mapping with a 'keys' list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "expected a mapping with a 'keys' list")
	}
	var list *yaml.Node
	listLine := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "keys" {
			return nil, fail(k.Line, "unknown key %q: expected 'keys'", k.Value)
		}
		if v.Kind != yaml.SequenceNode {
			return nil, fail(v.Line, "'keys' must be a list of {name, key, scopes}")
		}
		if list != nil {
			return nil, fail(k.Line, "'keys' given again (first at line %d); list every key under one 'keys'", listLine)
		}
		list, listLine = v, k.Line
	}
	if list == nil || len(list.Content) == 0 {
		return nil, fail(root.Line, "'keys' must list at least one key")
	}
	ks := &Keys{}
	names := map[string]int{}
	for i, n := range list.Content {
		entry := fmt.Sprintf("keys[%d]", i)
		var fe keyFileEntry
		if n.Kind != yaml.MappingNode {
			return nil, fail(n.Line, "%s: must be a mapping such as {name: web, key: \"...\", scopes: [track]}", entry)
		}
		if err := decodeStrict(n, &fe); err != nil {
			return nil, fail(n.Line, "%s: %v", entry, err)
		}
		if fe.Name != "" {
			entry = fmt.Sprintf("keys[%d] (%q)", i, fe.Name)
		}
		e, err := parseKeyEntry(fe)
		if err != nil {
			return nil, fail(n.Line, "%s: %v", entry, err)
		}
		if j, dup := names[e.name]; dup {
			return nil, fail(n.Line, "%s: name %q is already used by keys[%d]; names must be unique", entry, e.name, j)
		}
		names[e.name] = i
		for j, other := range ks.entries {
			if other.digest == e.digest {
				return nil, fail(n.Line, "%s: same key as keys[%d] (%q); every key must be distinct", entry, j, other.name)
			}
		}
		ks.entries = append(ks.entries, e)
	}
	return ks, nil
}

// decodeStrict decodes a mapping node into v, refusing unknown fields.
func decodeStrict(n *yaml.Node, v *keyFileEntry) error {
	allowed := []string{"name", "key", "scopes"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown field %q: expected name, key and scopes", k)
		}
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return errors.New(strings.Join(te.Errors, "; "))
		}
		return err
	}
	return nil
}

func parseKeyEntry(fe keyFileEntry) (keyEntry, error) {
	e := keyEntry{name: fe.Name}
	if fe.Name == "" {
		return e, errors.New("name is required")
	}
	switch {
	case fe.Key == "":
		return e, errors.New("key is required (the key itself, or sha256:<hex digest of the key>)")
	case strings.HasPrefix(fe.Key, sha256Prefix):
		h := strings.TrimPrefix(fe.Key, sha256Prefix)
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return e, fmt.Errorf("key %q…: a sha256: key must be followed by %d hex digits (e.g. the output of `printf %%s KEY | sha256sum`)", truncate(fe.Key, 12), 2*sha256.Size)
		}
		copy(e.digest[:], b)
	default:
		if len(fe.Key) < MinKeyLen {
			return e, fmt.Errorf("key must be at least %d characters, got %d", MinKeyLen, len(fe.Key))
		}
		if strings.IndexFunc(fe.Key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return e, errors.New("key must not contain spaces or control characters")
		}
		e.digest = sha256.Sum256([]byte(fe.Key))
	}
	if len(fe.Scopes) == 0 {
		return e, fmt.Errorf("scopes must list at least one of %s", scopeList())
	}
	for _, s := range fe.Scopes {
		sc := Scope(s)
		if !slices.Contains(allScopes, sc) {
			return e, fmt.Errorf("unknown scope %q: use %s", s, scopeList())
		}
		if !slices.Contains(e.scopes, sc) {
			e.scopes = append(e.scopes, sc)
		}
	}
	return e, nil
}

func scopeList() string {
	s := make([]string, len(allScopes))
	for i, sc := range allScopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// identity is the key a request authenticated with.
type identity struct {
	name   string
	scopes []Scope
}

// allows reports whether the key holds scope (or admin).
func (id *identity) allows(scope Scope) bool {
	return slices.Contains(id.scopes, scope) || slices.Contains(id.scopes, ScopeAdmin)
}

// lookup returns the entry whose key is key, or nil. It compares SHA-256
// digests in constant time and looks at every entry, so its timing says
// nothing about which key, or how much of one, matched.
func (k *Keys) lookup(key string) *identity {
	d := sha256.Sum256([]byte(key))
	var found *identity
	for i := range k.entries {
		e := &k.entries[i]
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			found = &identity{name: e.name, scopes: e.scopes}
		}
	}
	return found
}

// Names returns the key names in file order.
func (k *Keys) Names() []string {
	names := make([]string, len(k.entries))
	for i, e := range k.entries {
		names[i] = e.name
	}
	return names
}

// bearerToken extracts the token of an "authorization: Bearer <token>"
// value; the scheme is case-insensitive.
func bearerToken(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
