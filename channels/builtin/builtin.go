// Package builtin holds the message templates that kairos serve uses when
// no --templates directory is given: one set of templates for every arm of
// the built-in campaigns (decisioning/campaigns.yaml) whose channel is
// email, push, sms or inapp, written in the voice of a neutral brand,
// "Kairos Shop". They are a working starting point; copy the templates
// directory, edit it and pass it with --templates to use your own.
//
// The templates are laid out as channels.LoadTemplates reads them:
//
//	templates/<campaign>/<offer>/<channel>.<part>.tmpl
//
// Offer variables are optional: a template reads .Offer.Vars.discount and
// .Offer.Vars.code only inside {{with}}, and the discount falls back to
// the one the offer's name promises. Links go through .Links.Click, and
// every email (text and html part) carries .Links.Unsubscribe; every SMS
// ends with "Reply STOP to opt out".
//
// The package owns the template files only; it imports nothing of Kairos
// but channels (its test checks the files against the built-in campaigns).
package builtin

import (
	"embed"

	"kairos/channels"
)

// Root is the directory of FS that holds the templates.
const Root = "templates"

// FS holds the built-in templates under Root:
// channels.LoadTemplates(builtin.FS, builtin.Root, known).
//
//go:embed templates
var FS embed.FS

// Templates loads and validates the built-in templates; known lists the
// feature names templates may use (those of the feature set in use).
func Templates(known channels.Known) (*channels.TemplateSet, error) {
	return channels.LoadTemplates(FS, Root, known)
}
