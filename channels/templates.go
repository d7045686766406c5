package channels

import (
	"cmp"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// ErrNoTemplate reports that a TemplateSet has no templates for a
// (campaign, offer, channel).
var ErrNoTemplate = errors.New("no template")

// Data is what a template sees. The dispatcher builds it from the decision,
// the customer record, the features and scores read for the decision, and
// the offer's variables from the campaign configuration.
type Data struct {
	Customer CustomerData
	// Features maps feature names to their values for the customer.
	Features   map[string]float64
	Scores     ScoreData
	Offer      OfferData
	Campaign   string
	DecisionID string
	Links      Links
}

// CustomerData is the customer's contact record as templates see it.
type CustomerData struct {
	ID       string
	Email    string
	Phone    string
	Timezone string
	// Attributes are the customer's free-form attributes ("first_name",
	// "tier").
	Attributes map[string]string
}

// ScoreData are the model scores of the decision.
type ScoreData struct {
	Churn      float64
	Propensity float64
	// NextBestAction maps each class of the next-best-action model to its
	// probability.
	NextBestAction map[string]float64
}

// OfferData is the offer of the decision.
type OfferData struct {
	Name string
	// Vars are the offer's variables from the campaign configuration
	// ("discount": "15%").
	Vars map[string]string
}

// Links are the tracking links of a message.
type Links struct {
	// Unsubscribe is the one-click unsubscribe URL of the message's
	// channel; the dispatcher sets it to the admin server's signed link.
	Unsubscribe string
	// Open is the open pixel's URL; the dispatcher adds the pixel to an
	// email's HTML part itself.
	Open string
	// Wrap turns a destination URL into a tracking link; the dispatcher
	// sets it to the admin server's signed click redirect (which also
	// records the destination, so the redirect goes only to URLs of the
	// rendered message). When nil, Click returns URLs unchanged.
	Wrap func(url string) string
}

// Click returns the tracking link for url: {{.Links.Click "https://..."}}.
func (l Links) Click(url string) string {
	if l.Wrap == nil {
		return url
	}
	return l.Wrap(url)
}

// Known lists the names templates may use beyond the fixed data model.
type Known struct {
	// Features are the names allowed after .Features.
	Features []string
}

// TemplateKey names the templates of one message.
type TemplateKey struct {
	Campaign, Offer, Channel string
}

func (k TemplateKey) String() string { return k.Campaign + "/" + k.Offer + "/" + k.Channel }

// Rendered is one rendered message. Only the parts of its channel are set.
type Rendered struct {
	Subject string // email
	Title   string // push, inapp
	Text    string // email
	HTML    string // email
	Body    string // push, inapp, sms
}

// Fill copies r into m: Subject, Title and HTML, and Text from Text or, for
// the channels whose part is called body, from Body (Message.Text carries
// the SMS and push body).
func (r Rendered) Fill(m *Message) {
	m.Subject, m.Title, m.HTML = r.Subject, r.Title, r.HTML
	m.Text = r.Text
	if m.Text == "" {
		m.Text = r.Body
	}
}

// executor is a parsed text/template or html/template.
type executor interface {
	Execute(w io.Writer, data any) error
}

// part describes one template part of a channel.
type part struct {
	name     string
	html     bool
	required bool
	oneLine  bool
	field    func(*Rendered) *string
}

var channelParts = map[string][]part{
	"email": {
		{name: "subject", required: true, oneLine: true, field: func(r *Rendered) *string { return &r.Subject }},
		{name: "text", required: true, field: func(r *Rendered) *string { return &r.Text }},
		{name: "html", html: true, field: func(r *Rendered) *string { return &r.HTML }},
	},
	"push": {
		{name: "title", oneLine: true, field: func(r *Rendered) *string { return &r.Title }},
		{name: "body", required: true, field: func(r *Rendered) *string { return &r.Body }},
	},
	"inapp": {
		{name: "title", oneLine: true, field: func(r *Rendered) *string { return &r.Title }},
		{name: "body", required: true, field: func(r *Rendered) *string { return &r.Body }},
	},
	"sms": {
		{name: "body", required: true, field: func(r *Rendered) *string { return &r.Body }},
	},
}

func partNames(channel string) string {
	var names []string
	for _, p := range channelParts[channel] {
		names = append(names, p.name)
	}
	return strings.Join(names, ", ")
}

// templateEntry holds the parsed parts of one TemplateKey and their files,
// indexed like channelParts[channel]; nil and "" for an absent optional
// part.
type templateEntry struct {
	parts []executor
	files []string
}

// TemplateSet holds the message templates of every (campaign, offer,
// channel), loaded from a directory tree laid out as
//
//	<root>/<campaign>/<offer>/<channel>.<part>.tmpl
//
// with these channels and parts (* marks the required ones):
//
//	email   subject*, text*, html
//	push    title, body*
//	inapp   title, body*
//	sms     body*
//
// The email html part is an html/template (contextual auto-escaping: a
// customer attribute holding "<script>" renders as "&lt;script&gt;");
// every other part is a text/template and is not escaped. Webhook messages
// are not templated: the webhook transport sends the message fields as
// JSON. One trailing newline of each file is dropped (editors add one),
// and the one-line parts (subject, title) have every run of CR/LF folded
// into one space when rendered, so a value cannot inject a header line.
//
// Templates see a Data value:
//
//	{{.Customer.ID}} {{.Customer.Email}} {{.Customer.Phone}} {{.Customer.Timezone}}
//	{{.Customer.Attributes.<key>}}
//	{{.Features.<name>}}                 a float64; name must be a known feature
//	{{.Scores.Churn}} {{.Scores.Propensity}} {{.Scores.NextBestAction.<class>}}
//	{{.Offer.Name}} {{.Offer.Vars.<key>}}
//	{{.Campaign}} {{.DecisionID}}
//	{{.Links.Unsubscribe}} {{.Links.Click "https://shop.example/cart"}}
//
// plus the standard template functions (printf, index, len, eq, ...). A
// map entry that is missing when rendering (an attribute the customer does
// not have) renders as its zero value, "" or 0, so
// {{with .Customer.Attributes.first_name}}Hi {{.}}{{else}}Hi{{end}} works.
//
// LoadTemplates validates the whole tree before it returns: a file outside
// the layout, an unknown channel or part, a parse error, a reference to a
// variable outside the data model (such as .Customer.Nmae or an unknown
// feature), a call of a template that does not exist, and an HTML template
// that cannot be escaped are refused with the file and line. Names are
// checked by walking the parse tree, following the dot through with,
// range, variables and {{template}} calls, so a mistake in a branch that
// the sample data would not take is still found.
//
// A TemplateSet is immutable and safe for concurrent use.
type TemplateSet struct {
	entries map[TemplateKey]*templateEntry
}

// LoadTemplates reads and validates every template under root in fsys (see
// TemplateSet for the layout and the checks). Files not ending in
// ".tmpl" and hidden files are ignored. It reports every problem found, one
// per line, each naming the file (and line), and returns no set unless
// there are none.
func LoadTemplates(fsys fs.FS, root string, known Known) (*TemplateSet, error) {
	model := dataShape(known)
	set := &TemplateSet{entries: make(map[TemplateKey]*templateEntry)}
	var errs []error
	walkErr := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".tmpl") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		key, pi, err := classify(root, p)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		e := set.entries[key]
		if e == nil {
			n := len(channelParts[key.Channel])
			e = &templateEntry{parts: make([]executor, n), files: make([]string, n)}
			set.entries[key] = e
		}
		e.files[pi] = p // present, even when refused below
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		tmpl, err := compile(p, trimNewline(string(src)), channelParts[key.Channel][pi].html, model)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		e.parts[pi] = tmpl
		return nil
	})
	if walkErr != nil {
		return nil, fmt.Errorf("channels: load templates from %s: %w", root, walkErr)
	}
	for _, k := range set.Keys() {
		e := set.entries[k]
		for i, pt := range channelParts[k.Channel] {
			if pt.required && e.files[i] == "" {
				errs = append(errs, fmt.Errorf("channels: templates: %s: missing %s (required for channel %s)",
					path.Join(root, k.Campaign, k.Offer, k.Channel+"."+pt.name+".tmpl"), pt.name, k.Channel))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// classify maps a template file's path to its key and the index of its
// part in channelParts.
func classify(root, p string) (TemplateKey, int, error) {
	rel := p
	if root != "." {
		rel = strings.TrimPrefix(p, root+"/")
	}
	segs := strings.Split(rel, "/")
	if len(segs) != 3 {
		return TemplateKey{}, 0, fmt.Errorf("channels: templates: %s: not at <campaign>/<offer>/<channel>.<part>.tmpl under %s", p, root)
	}
	name := strings.TrimSuffix(segs[2], ".tmpl")
	channel, partName, ok := strings.Cut(name, ".")
	if !ok || strings.Contains(partName, ".") {
		return TemplateKey{}, 0, fmt.Errorf("channels: templates: %s: file name must be <channel>.<part>.tmpl", p)
	}
	parts, ok := channelParts[channel]
	if !ok {
		why := "unknown channel %q (templated channels: email, inapp, push, sms)"
		if channel == "webhook" {
			why = "channel %q is not templated (the webhook transport sends the message fields as JSON)"
		}
		return TemplateKey{}, 0, fmt.Errorf("channels: templates: %s: "+why, p, channel)
	}
	i := slices.IndexFunc(parts, func(pt part) bool { return pt.name == partName })
	if i < 0 {
		return TemplateKey{}, 0, fmt.Errorf("channels: templates: %s: unknown part %q for channel %s (parts: %s)", p, partName, channel, partNames(channel))
	}
	return TemplateKey{Campaign: segs[0], Offer: segs[1], Channel: channel}, i, nil
}

func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// compile parses one template file (named by its path, which its errors
// carry) and checks it against the data model.
func compile(name, src string, html bool, model *shape) (executor, error) {
	var (
		tmpl   executor
		tree   *parse.Tree
		lookup func(string) *parse.Tree
	)
	if html {
		t, err := htmltemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("channels: templates: %w", err)
		}
		tmpl, tree = t, t.Tree
		lookup = func(n string) *parse.Tree {
			if x := t.Lookup(n); x != nil {
				return x.Tree
			}
			return nil
		}
	} else {
		t, err := template.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("channels: templates: %w", err)
		}
		tmpl, tree = t, t.Tree
		lookup = func(n string) *parse.Tree {
			if x := t.Lookup(n); x != nil {
				return x.Tree
			}
			return nil
		}
	}
	if tree == nil || tree.Root == nil {
		// Only comments and definitions: nothing to check, renders "".
		return tmpl, nil
	}
	c := &checker{lookup: lookup, active: map[string]bool{name: true}}
	c.run(tree, model)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	if html {
		// html/template escapes on the first Execute; do it now so an
		// ambiguous context ("<a href={{.X}}" in an unquoted attribute
		// that cannot be escaped, a {{.}} inside a tag name, ...) is
		// refused at load. Errors of executing against empty data are not
		// the template's fault and are ignored; escaping errors are.
		var ee *htmltemplate.Error
		if err := tmpl.Execute(io.Discard, Data{}); errors.As(err, &ee) {
			return nil, fmt.Errorf("channels: templates: %w", err)
		}
	}
	return tmpl, nil
}

// Has reports whether s has templates for (campaign, offer, channel).
func (s *TemplateSet) Has(campaign, offer, channel string) bool {
	_, ok := s.entries[TemplateKey{campaign, offer, channel}]
	return ok
}

// Keys returns the keys of s, sorted by campaign, offer and channel.
func (s *TemplateSet) Keys() []TemplateKey {
	keys := make([]TemplateKey, 0, len(s.entries))
	for k := range s.entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b TemplateKey) int {
		return cmp.Or(strings.Compare(a.Campaign, b.Campaign), strings.Compare(a.Offer, b.Offer),
			strings.Compare(a.Channel, b.Channel))
	})
	return keys
}

// Render executes the templates of (campaign, offer, channel) with data.
// The error wraps ErrNoTemplate when s has none.
func (s *TemplateSet) Render(campaign, offer, channel string, data Data) (Rendered, error) {
	key := TemplateKey{campaign, offer, channel}
	e, ok := s.entries[key]
	if !ok {
		return Rendered{}, fmt.Errorf("channels: render campaign %q offer %q channel %q: %w", campaign, offer, channel, ErrNoTemplate)
	}
	var r Rendered
	for i, pt := range channelParts[channel] {
		if e.parts[i] == nil {
			continue
		}
		var b strings.Builder
		if err := e.parts[i].Execute(&b, data); err != nil {
			return Rendered{}, fmt.Errorf("channels: render %s: %w", key, err)
		}
		out := b.String()
		if pt.oneLine {
			out = oneLine(out)
		}
		*pt.field(&r) = out
	}
	return r, nil
}

// oneLine folds every run of CR and LF into one space and trims spaces.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// The data model, as the checker sees it.

type shapeKind uint8

const (
	shapeAny    shapeKind = iota // unknown (a function's result): not checked
	shapeLeaf                    // a string or a number
	shapeRecord                  // fixed field names
	shapeMap                     // any key, or one of keys when keys is set
	shapeMethod                  // a method taking nargs arguments
)

type shape struct {
	kind   shapeKind
	fields map[string]*shape // shapeRecord
	elem   *shape            // shapeMap
	keys   map[string]bool   // shapeMap: the allowed keys, nil for any
	noun   string            // shapeMap with keys: what a key is ("feature")
	nargs  int               // shapeMethod
}

var (
	anyShape  = &shape{kind: shapeAny}
	leafShape = &shape{kind: shapeLeaf}
)

func record(fields map[string]*shape) *shape { return &shape{kind: shapeRecord, fields: fields} }
func mapOf(elem *shape) *shape               { return &shape{kind: shapeMap, elem: elem} }

// dataShape describes Data (TestDataShapeMatchesData keeps the two in
// step). Links.Wrap is deliberately absent: templates call Links.Click.
func dataShape(known Known) *shape {
	features := mapOf(leafShape)
	features.keys = make(map[string]bool, len(known.Features))
	features.noun = "feature"
	for _, f := range known.Features {
		features.keys[f] = true
	}
	return record(map[string]*shape{
		"Customer": record(map[string]*shape{
			"ID": leafShape, "Email": leafShape, "Phone": leafShape, "Timezone": leafShape,
			"Attributes": mapOf(leafShape),
		}),
		"Features": features,
		"Scores": record(map[string]*shape{
			"Churn": leafShape, "Propensity": leafShape, "NextBestAction": mapOf(leafShape),
		}),
		"Offer": record(map[string]*shape{
			"Name": leafShape, "Vars": mapOf(leafShape),
		}),
		"Campaign":   leafShape,
		"DecisionID": leafShape,
		"Links": record(map[string]*shape{
			"Unsubscribe": leafShape,
			"Open":        leafShape,
			"Click":       {kind: shapeMethod, nargs: 1},
		}),
	})
}

// checker walks a template's parse tree, tracking the shape of the dot and
// of the variables, and records every reference outside the data model.
type checker struct {
	lookup func(name string) *parse.Tree
	tree   *parse.Tree     // the tree being walked, for error positions
	vars   []variable      // in scope, innermost last
	active map[string]bool // templates being walked, against recursion
	errs   []error
}

type variable struct {
	name string
	s    *shape
}

func (c *checker) run(t *parse.Tree, dot *shape) {
	c.tree, c.vars = t, []variable{{"$", dot}}
	c.walk(t.Root, dot)
}

func (c *checker) errorf(n parse.Node, format string, args ...any) {
	loc, _ := c.tree.ErrorContext(n)
	// loc is "file:line:column"; the column is zero-based and points at the
	// last name of a chain, so report "file:line" like a parse error does.
	loc = loc[:strings.LastIndexByte(loc, ':')]
	c.errs = append(c.errs, fmt.Errorf("channels: templates: %s: %s", loc, fmt.Sprintf(format, args...)))
}

func (c *checker) walk(n parse.Node, dot *shape) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			c.walk(x, dot)
		}
	case *parse.ActionNode:
		c.pipe(n.Pipe, dot, true)
	case *parse.IfNode:
		mark := len(c.vars)
		c.pipe(n.Pipe, dot, true)
		c.walk(n.List, dot)
		c.walk(n.ElseList, dot)
		c.vars = c.vars[:mark]
	case *parse.WithNode:
		mark := len(c.vars)
		s := c.pipe(n.Pipe, dot, true)
		c.walk(n.List, s)
		c.walk(n.ElseList, dot)
		c.vars = c.vars[:mark]
	case *parse.RangeNode:
		mark := len(c.vars)
		s := c.pipe(n.Pipe, dot, false)
		elem := anyShape
		switch s.kind {
		case shapeMap:
			elem = s.elem
		case shapeRecord, shapeMethod:
			c.errorf(n, "cannot range over %s", n.Pipe)
		}
		switch len(n.Pipe.Decl) {
		case 1:
			c.vars = append(c.vars, variable{n.Pipe.Decl[0].Ident[0], elem})
		case 2:
			c.vars = append(c.vars, variable{n.Pipe.Decl[0].Ident[0], leafShape},
				variable{n.Pipe.Decl[1].Ident[0], elem})
		}
		c.walk(n.List, elem)
		c.walk(n.ElseList, dot)
		c.vars = c.vars[:mark]
	case *parse.TemplateNode:
		arg := anyShape
		if n.Pipe != nil {
			arg = c.pipe(n.Pipe, dot, true)
		}
		c.call(n, arg)
	}
	// Text, comments, break and continue refer to nothing.
}

// call walks the template that n invokes, with its dot.
func (c *checker) call(n *parse.TemplateNode, dot *shape) {
	t := c.lookup(n.Name)
	if t == nil || t.Root == nil {
		c.errorf(n, "no template %q is defined", n.Name)
		return
	}
	if c.active[n.Name] {
		return
	}
	c.active[n.Name] = true
	tree, vars := c.tree, c.vars
	c.run(t, dot)
	c.tree, c.vars = tree, vars
	delete(c.active, n.Name)
}

// pipe checks a pipeline and returns the shape of its result, declaring
// its variables when declare is set.
func (c *checker) pipe(p *parse.PipeNode, dot *shape, declare bool) *shape {
	s := anyShape
	for i, cmd := range p.Cmds {
		s = c.command(cmd, dot, i > 0)
	}
	if declare {
		for _, v := range p.Decl {
			if p.IsAssign {
				c.assign(v.Ident[0])
			} else {
				c.vars = append(c.vars, variable{v.Ident[0], s})
			}
		}
	}
	return s
}

// assign forgets what is known of an assigned variable: its shape may now
// depend on the path taken.
func (c *checker) assign(name string) {
	for i := len(c.vars) - 1; i >= 0; i-- {
		if c.vars[i].name == name {
			c.vars[i].s = anyShape
			return
		}
	}
}

func (c *checker) variable(name string) *shape {
	for i := len(c.vars) - 1; i >= 0; i-- {
		if c.vars[i].name == name {
			return c.vars[i].s
		}
	}
	return anyShape // parse refuses undefined variables
}

// command checks one command of a pipeline; piped means the previous
// command's result is passed as its last argument.
func (c *checker) command(cmd *parse.CommandNode, dot *shape, piped bool) *shape {
	for _, a := range cmd.Args[1:] {
		c.operand(a, dot, 0)
	}
	nargs := len(cmd.Args) - 1
	if piped {
		nargs++
	}
	return c.operand(cmd.Args[0], dot, nargs)
}

// operand checks a value, invoked with nargs arguments, and returns its
// shape.
func (c *checker) operand(n parse.Node, dot *shape, nargs int) *shape {
	switch n := n.(type) {
	case *parse.FieldNode:
		return c.invoke(n, c.fields(n, dot, "", n.Ident), nargs)
	case *parse.VariableNode:
		return c.invoke(n, c.fields(n, c.variable(n.Ident[0]), n.Ident[0], n.Ident[1:]), nargs)
	case *parse.ChainNode:
		base := c.operand(n.Node, dot, 0)
		return c.invoke(n, c.fields(n, base, "("+n.Node.String()+")", n.Field), nargs)
	case *parse.PipeNode:
		return c.pipe(n, dot, true)
	case *parse.DotNode:
		return dot
	case *parse.IdentifierNode:
		return anyShape // a function; parse refuses unknown ones
	}
	return leafShape // a constant
}

// invoke checks the number of arguments given to a value.
func (c *checker) invoke(n parse.Node, s *shape, nargs int) *shape {
	switch {
	case s.kind == shapeMethod:
		if nargs != s.nargs {
			c.errorf(n, "%s takes %d argument(s), got %d (write {{%s \"https://...\"}})", n, s.nargs, nargs, n)
		}
		return leafShape
	case nargs > 0 && s.kind != shapeAny:
		c.errorf(n, "%s is not a method and takes no arguments", n)
	}
	return s
}

// fields follows a chain of field names from base, whose name is prefix
// ("" for the dot).
func (c *checker) fields(n parse.Node, base *shape, prefix string, idents []string) *shape {
	s, at := base, prefix
	for _, id := range idents {
		parent := at
		if parent == "" {
			parent = "."
		}
		at += "." + id
		switch s.kind {
		case shapeAny:
			return anyShape
		case shapeRecord:
			f, ok := s.fields[id]
			if !ok {
				c.errorf(n, "unknown variable %s: %s has no field %s (it has %s)", at, parent, id, fieldNames(s))
				return anyShape
			}
			s = f
		case shapeMap:
			if s.keys != nil && !s.keys[id] {
				c.errorf(n, "unknown %s %s in %s (known: %s)", s.noun, id, at, keyNames(s))
				return anyShape
			}
			s = s.elem
		case shapeLeaf:
			c.errorf(n, "unknown variable %s: %s is a value and has no fields", at, parent)
			return anyShape
		case shapeMethod:
			c.errorf(n, "unknown variable %s: %s is a method and has no fields", at, parent)
			return anyShape
		}
	}
	return s
}

func fieldNames(s *shape) string {
	names := make([]string, 0, len(s.fields))
	for k := range s.fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func keyNames(s *shape) string {
	if len(s.keys) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s.keys))
	for k := range s.keys {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
