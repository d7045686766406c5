package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/channels"
	"kairos/channels/builtin"
	"kairos/channels/inapp"
	"kairos/channels/outbox"
	"kairos/channels/tracking"
	"kairos/decisioning"
	"kairos/dispatch"
	"kairos/features"
	"kairos/internal/server"
	"kairos/models"
)

const channelsUsage = `Usage:
  kairos channels status [--admin URL] [--dead N] [--json]
        the dispatch queue of a running kairos serve: messages ready, in flight and
        scheduled, attempts by channel and status, and the newest dead letters
  kairos channels preview --campaign C --offer O --channel CH [--customer ID --redis URL]
        [--templates DIR] [--channels FILE] [--campaigns FILE] [--features FILE]
        render a message as the dispatcher would (without --customer: a sample customer)
  kairos channels validate FILE      check a channels configuration (ok, or every problem with its line)
  kairos channels example            print the commented example channels configuration`

// channelsCmd runs `kairos channels status|preview|validate|example`.
func channelsCmd(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stdout, channelsUsage)
		if len(args) == 0 {
			return errors.New("channels: name a subcommand: status, preview, validate or example")
		}
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "status":
		return channelsStatus(ctx, env, rest)
	case "preview":
		return channelsPreview(ctx, env, rest)
	case "example":
		if len(rest) > 0 {
			return fmt.Errorf("channels example takes no arguments, got %q", rest)
		}
		_, err := env.stdout.Write(dispatch.ExampleConfigYAML())
		return err
	case "validate":
		if len(rest) != 1 || strings.HasPrefix(rest[0], "-") {
			return fmt.Errorf("channels validate takes one FILE, got %q", rest)
		}
		cfg, err := loadChannels(rest[0], env)
		if err != nil {
			return fmt.Errorf("channels validate: %w", err)
		}
		var names []string
		for _, ch := range slices.Sorted(maps.Keys(cfg.Channels)) {
			names = append(names, ch+"="+cfg.Channels[ch].Provider)
		}
		fmt.Fprintf(env.stdout, "ok: %s: %s\n", cfg.Source, strings.Join(names, ", "))
		return nil
	default:
		return fmt.Errorf("channels: unknown subcommand %q; run 'kairos channels help'", sub)
	}
}

// loadChannels reads the channels configuration: file, or the built-in
// default (every channel on the outbox, in-app on the inbox) when file is
// empty. Secrets come from the environment.
func loadChannels(file string, env environment) (*dispatch.Config, error) {
	if file == "" {
		return dispatch.DefaultConfig(), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return dispatch.ParseConfig(file, data, func(k string) string {
		v, _ := env.lookupEnv(k)
		return v
	})
}

// loadTemplates reads the message templates: dir, or the built-in ones
// when dir is empty.
func loadTemplates(dir string, set *features.Set) (*channels.TemplateSet, error) {
	known := channels.Known{Features: set.Names()}
	if dir == "" {
		return builtin.Templates(known)
	}
	switch fi, err := os.Stat(dir); {
	case err != nil:
		return nil, fmt.Errorf("templates directory (--templates, or templates: in the channels configuration): %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("templates directory (--templates, or templates: in the channels configuration) %s is not a directory", dir)
	}
	return channels.LoadTemplates(os.DirFS(dir), ".", known)
}

// checkChannels reports every arm of the campaigns that the dispatcher
// could not send: a channel without a provider, a message without its
// templates (webhooks are not templated).
func checkChannels(campaigns *decisioning.Config, chans map[string]dispatch.Channel, ts *channels.TemplateSet, templatesDir string) error {
	var problems []string
	where := "the built-in templates"
	if templatesDir != "" {
		where = templatesDir
	}
	for i := range campaigns.Campaigns {
		c := &campaigns.Campaigns[i]
		for _, a := range c.Arms {
			if a.Channel == decisioning.ChannelNone {
				continue
			}
			if _, ok := chans[a.Channel]; !ok {
				problems = append(problems, fmt.Sprintf("campaign %s, arm %s/%s: channel %s has no provider in the channels configuration", c.Name, a.Channel, a.Offer, a.Channel))
				continue
			}
			if a.Channel != decisioning.ChannelWebhook && !ts.Has(c.Name, a.Offer, a.Channel) {
				problems = append(problems, fmt.Sprintf("campaign %s, arm %s/%s: no template in %s; add %s/%s/%s.*.tmpl",
					c.Name, a.Channel, a.Offer, where, c.Name, a.Offer, a.Channel))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// dispatchStack is the dispatcher of serve and its admin endpoints.
type dispatchStack struct {
	dispatcher *dispatch.Dispatcher // nil with --dispatch=false
	handler    http.Handler
	check      server.Check
	providers  map[string]string
}

// dispatchOptions are serve's flags for the dispatcher.
type dispatchOptions struct {
	run       bool   // run a dispatcher in this instance
	adminAddr string // the address serving /t/ (admin or --tracking-addr), the default base of links
	// claimIdle is how long a job stays with an instance that went away
	// (raised to the longest channel timeout plus the lease margin).
	claimIdle time.Duration
	// now is the dispatcher's clock (nil: time.Now); noEvents keeps the
	// engagement events (message_delivered, bounces) out of the feature
	// store, for a caller that produces them itself (kairos demo: the
	// simulated customers react to the messages).
	now      func() time.Time
	noEvents bool
}

// openDispatch builds the dispatcher of the campaigns' messages on the
// channels configuration cfg.
func openDispatch(o dispatchOptions, cfg *dispatch.Config, campaigns *decisioning.Config, q decisioning.DispatchQueue, st openedStore, set *features.Set,
	inbox inapp.Store, signer *tracking.Signer, logger *slog.Logger, reg prometheus.Registerer) (*dispatchStack, error) {
	ts, err := loadTemplates(cfg.Templates, set)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	var ob *outbox.Outbox
	providers := cfg.Providers()
	if slices.Contains(slices.Collect(maps.Values(providers)), dispatch.ProviderOutbox) {
		ob = outbox.New(outbox.Options{})
	}
	opts := dispatch.Options{
		Consumer: fmt.Sprintf("%s-%d", hostname(), os.Getpid()), Templates: ts, ClaimIdle: o.claimIdle,
		OfferVars: campaigns.OfferVars, Set: set, Profiles: st.store, Events: st.store,
		Logger: logger, Registerer: reg, Now: o.now,
	}
	if o.noEvents {
		opts.Events = nil
	}
	if err := cfg.Apply(&opts, dispatch.Deps{Inbox: inbox, Outbox: ob}); err != nil {
		return nil, fmt.Errorf("--channels: %w", err)
	}
	if err := checkChannels(campaigns, opts.Channels, ts, cfg.Templates); err != nil {
		return nil, fmt.Errorf("the campaigns cannot be sent:\n%w", err)
	}
	if ob != nil {
		logger.Warn("channels on the outbox provider keep their messages in memory (GET /channels/outbox of the admin server); configure real providers with --channels FILE",
			"outbox", outboxChannels(cfg))
	}
	base := cfg.Tracking.BaseURL
	if base == "" {
		base = "http://" + o.adminAddr
	}
	opts.Links = trackingLinks(signer, base, cfg.Tracking.TTL)
	if lim, ok := q.(dispatch.Limiter); ok {
		opts.Limiter = lim // Redis: one rate per channel for every instance
	}
	stack := &dispatchStack{providers: providers}
	if o.run {
		if stack.dispatcher, err = dispatch.New(q, opts); err != nil {
			return nil, err
		}
	}
	stack.handler = dispatch.AdminHandler(q, stack.dispatcher, ob, providers, logger.With("component", "dispatch"))
	stack.check = server.Check{Name: "dispatch", Degraded: func() string {
		if stack.dispatcher != nil && stack.dispatcher.Degraded() {
			return "cannot read the dispatch queue; messages wait until it is back"
		}
		return ""
	}}
	return stack, nil
}

// trackingLinks mints the links of a message under base: unsubscribe and
// click for every channel, the open pixel for email.
func trackingLinks(signer *tracking.Signer, base string, ttl time.Duration) dispatch.Links {
	return func(d *decisioning.Decision) channels.Links {
		l := signer.For(base, d.ID, d.CustomerID, d.Campaign, d.Channel, ttl)
		out := channels.Links{Unsubscribe: l.Unsubscribe(), Wrap: l.Click}
		if d.Channel == decisioning.ChannelEmail {
			out.Open = l.Open()
		}
		return out
	}
}

func outboxChannels(cfg *dispatch.Config) string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Channels)) {
		if cfg.Channels[name].Provider == dispatch.ProviderOutbox {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

// channelsStatus prints the dispatch status of a running serve.
func channelsStatus(ctx context.Context, env environment, args []string) error {
	var admin string
	var dead int
	var asJSON bool
	fs := flagSet("channels status", channelsUsage, env)
	fs.StringVar(&admin, "admin", "http://127.0.0.1:7401", "`URL` of the admin HTTP server of a running kairos serve")
	fs.IntVar(&dead, "dead", 10, "`number` of the newest dead letters to list (0 to 100)")
	fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
	if err := parseFlags(fs, env, "channels status", args); err != nil {
		return err
	}
	u, err := url.Parse(strings.TrimRight(admin, "/") + "/channels/status")
	if err != nil || u.Host == "" {
		return fmt.Errorf("channels status: --admin %q: must be an http URL such as http://127.0.0.1:7401", admin)
	}
	u.RawQuery = url.Values{"dead": {fmt.Sprint(dead)}}.Encode()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("channels status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("channels status: %w (is kairos serve running with its admin HTTP server at %s? pass --admin URL)", err, admin)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("channels status: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("channels status: %s answered %s: %s", u.Host, resp.Status, strings.TrimSpace(string(raw)))
	}
	if asJSON {
		_, err := env.stdout.Write(raw)
		return err
	}
	var st dispatch.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("channels status: %s did not answer a dispatch status: %w", u.Host, err)
	}
	printDispatchStatus(env.stdout, &st)
	return nil
}

// printDispatchStatus writes a dispatch status as tables.
func printDispatchStatus(w io.Writer, st *dispatch.Status) {
	fmt.Fprintf(w, "Dispatch queue: %d ready, %d in flight, %d scheduled", st.Ready, st.InFlight, st.Scheduled)
	if !st.NextScheduled.IsZero() {
		fmt.Fprintf(w, " (next due %s)", st.NextScheduled.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	switch {
	case !st.Dispatching:
		fmt.Fprintln(w, "This instance runs no dispatcher (--dispatch=false).")
	case st.Degraded != "":
		fmt.Fprintln(w, "Dispatcher degraded:", st.Degraded)
	}
	if st.Outbox > 0 {
		fmt.Fprintf(w, "Outbox: %d messages kept (GET /channels/outbox of the admin server)\n", st.Outbox)
	}
	fmt.Fprintln(w)
	statuses := []string{decisioning.DispatchSent, decisioning.DispatchFailed, decisioning.DispatchDead, decisioning.DispatchBounced,
		decisioning.DispatchInvalid, decisioning.DispatchCancelled, decisioning.DispatchUnknown, decisioning.DispatchInterrupted}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "channel\tprovider\t")
	for _, s := range statuses {
		fmt.Fprint(tw, s, "\t")
	}
	fmt.Fprintln(tw)
	names := slices.Sorted(maps.Keys(st.Channels))
	for _, ch := range slices.Sorted(maps.Keys(st.Totals)) {
		if !slices.Contains(names, ch) {
			names = append(names, ch)
		}
	}
	for _, ch := range names {
		fmt.Fprintf(tw, "%s\t%s\t", ch, cmp.Or(st.Channels[ch], "-"))
		for _, s := range statuses {
			fmt.Fprintf(tw, "%d\t", st.Totals[ch][s])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDead letters: %d\n", st.DeadLetters)
	if len(st.Dead) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "at\tdecision\tcustomer\tcampaign\tchannel\tattempts\tlast error")
		for _, d := range st.Dead {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.At.Format(time.RFC3339), d.DecisionID, d.CustomerID, d.Campaign, d.Channel, d.Attempts, d.Error)
		}
		tw.Flush()
	}
}

// sampleCustomer is the customer of a preview without --customer.
var sampleCustomer = features.Customer{
	ID: "sample-customer", Email: "ada@example.com", Phone: "+14155550123", PushToken: "sample-push-token",
	Timezone: "Europe/London", Consents: map[string]bool{"email": true, "sms": true, "push": true},
	Attributes: map[string]string{"first_name": "Ada"},
}

// channelsPreview renders one message as the dispatcher would send it.
func channelsPreview(ctx context.Context, env environment, args []string) error {
	var campaign, offer, channel, customer, redisURL, templatesDir, channelsFile, campaignsFile, featuresFile string
	fs := flagSet("channels preview", channelsUsage, env)
	fs.StringVar(&campaign, "campaign", "", "campaign `name` (required)")
	fs.StringVar(&offer, "offer", "", "offer `name` of one of the campaign's arms (required)")
	fs.StringVar(&channel, "channel", "", "`channel` of that arm: email, push, sms, inapp or webhook (required)")
	fs.StringVar(&customer, "customer", "", "customer `id` to read from the store (needs --redis); empty: a sample customer")
	fs.StringVar(&redisURL, "redis", "", "Redis `URL` of the feature store to read --customer from")
	fs.StringVar(&templatesDir, "templates", "", "templates `directory` (empty: the channels configuration's, else the built-in templates)")
	fs.StringVar(&channelsFile, "channels", "", "channels configuration `file` (for its templates and tracking settings)")
	fs.StringVar(&campaignsFile, "campaigns", "", "campaign configuration `file` (empty: the built-in campaigns)")
	fs.StringVar(&featuresFile, "features", "", "feature definitions `file` (empty: the built-in definitions)")
	if err := parseFlags(fs, env, "channels preview", args); err != nil {
		return err
	}
	if campaign == "" || offer == "" || channel == "" {
		return errors.New("channels preview: --campaign, --offer and --channel are required")
	}
	set := features.Default()
	if featuresFile != "" {
		var err error
		if set, err = features.Load(featuresFile); err != nil {
			return fmt.Errorf("channels preview: --features: %w", err)
		}
	}
	cfgs, err := loadCampaigns(campaignsFile, set)
	if err != nil {
		return fmt.Errorf("channels preview: --campaigns: %w", err)
	}
	var camp *decisioning.Campaign
	var names []string
	for i := range cfgs.Campaigns {
		names = append(names, cfgs.Campaigns[i].Name)
		if cfgs.Campaigns[i].Name == campaign {
			camp = &cfgs.Campaigns[i]
		}
	}
	if camp == nil {
		return fmt.Errorf("channels preview: --campaign %q: not a campaign of %s; the campaigns are %s", campaign, cfgs.Source, strings.Join(names, ", "))
	}
	armIndex := -1
	var arms []string
	for i, a := range camp.Arms {
		if a.Channel == decisioning.ChannelNone {
			continue
		}
		arms = append(arms, "--offer "+a.Offer+" --channel "+a.Channel)
		if a.Offer == offer && a.Channel == channel {
			armIndex = i
		}
	}
	if armIndex < 0 {
		return fmt.Errorf("channels preview: campaign %s has no arm with offer %q on channel %q; its arms are:\n  %s", campaign, offer, channel, strings.Join(arms, "\n  "))
	}
	chCfg, err := loadChannels(channelsFile, env)
	if err != nil {
		return fmt.Errorf("channels preview: --channels: %w", err)
	}
	if templatesDir == "" {
		templatesDir = chCfg.Templates
	}
	ts, err := loadTemplates(templatesDir, set)
	if err != nil {
		return fmt.Errorf("channels preview: %w", err)
	}

	now := time.Now()
	profile := features.Profile{CustomerID: sampleCustomer.ID, Customer: &sampleCustomer, Vector: features.Vector{Names: set.Names(), Values: nanVector(len(set.Names()))}}
	switch {
	case customer != "" && redisURL == "":
		return errors.New("channels preview: --customer needs --redis URL: the embedded store lives inside kairos serve (omit --customer for a sample customer)")
	case customer != "":
		st, err := openStore(ctx, redisURL, set, 0, slog.New(slog.DiscardHandler))
		if err != nil {
			return fmt.Errorf("channels preview: %w", err)
		}
		defer st.close()
		if profile, err = st.store.Profile(ctx, customer, now); err != nil {
			return fmt.Errorf("channels preview: read customer %s: %w", customer, err)
		}
		if profile.Customer == nil {
			return fmt.Errorf("channels preview: customer %s has no record in the store at %s (UpsertCustomer it first)", customer, redisURL)
		}
	}
	registry, err := openRegistry("", set, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return fmt.Errorf("channels preview: models: %w", err)
	}
	var sc models.Scores
	registry.Score(profile.Vector, &sc)
	dec := decisioning.Decision{ID: decisioning.NewID(now), CustomerID: profile.Customer.ID, Campaign: campaign, Outcome: decisioning.Send,
		Channel: channel, Offer: offer, ArmIndex: armIndex, DecidedAt: now, Scores: decisioning.ScoresOf(&sc)}
	key := make([]byte, tracking.MinKeyBytes)
	signer, err := tracking.NewSigner(key, nil)
	if err != nil {
		return err
	}
	links := trackingLinks(signer, cmp.Or(chCfg.Tracking.BaseURL, "http://127.0.0.1:7401"), chCfg.Tracking.TTL)
	to := ""
	if channel == decisioning.ChannelWebhook {
		if cc, ok := chCfg.Channels[channel]; ok && cc.HTTP != nil {
			to = cc.HTTP.URL
		}
	}
	m, err := dispatch.Compose(&dec, profile, to, ts, cfgs.OfferVars, links)
	if err != nil {
		return fmt.Errorf("channels preview: %w", err)
	}
	printMessage(env.stdout, m)
	return nil
}

func nanVector(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// printMessage writes a composed message, part by part.
func printMessage(w io.Writer, m *channels.Message) {
	fmt.Fprintf(w, "Channel:     %s\nTo:          %s\nCampaign:    %s (offer %s)\nDecision id: %s (a preview id)\n", m.Channel, m.To, m.Campaign, m.Offer, m.ID)
	if m.UnsubscribeURL != "" {
		fmt.Fprintf(w, "Unsubscribe: %s\n", m.UnsubscribeURL)
	}
	for _, p := range []struct{ name, v string }{{"Subject", m.Subject}, {"Title", m.Title}, {"Text", m.Text}, {"HTML", m.HTML}} {
		if p.v == "" {
			continue
		}
		fmt.Fprintf(w, "\n--- %s ---\n%s\n", p.name, p.v)
	}
	if len(m.Data) > 0 {
		fmt.Fprintln(w, "\n--- Data ---")
		for _, k := range slices.Sorted(maps.Keys(m.Data)) {
			fmt.Fprintf(w, "%s: %s\n", k, m.Data[k])
		}
	}
}
