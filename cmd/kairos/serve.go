package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"kairos/channels/inapp"
	"kairos/channels/inapp/redisinbox"
	"kairos/channels/tracking"
	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/server"
	"kairos/measurement"
	"kairos/models"
	"kairos/training/archive"
)

// shutdownTimeout bounds the graceful stop of each server; RPCs and
// requests still running then are cut off.
const shutdownTimeout = 10 * time.Second

// serveConfig is the configuration of `kairos serve`.
type serveConfig struct {
	grpcAddr string
	httpAddr string
	redisURL string
	features string
	apiKeys  string
	insecure bool
	// logMaxLen bounds the event log in entries (Track calls); 0: default.
	logMaxLen int64
	// archive is the directory the event log is archived to; empty: none.
	archive string
	// models is the model directory; empty: the models shipped in the binary.
	models string
	// campaigns is the campaign configuration file; empty: the examples
	// shipped in the binary.
	campaigns string
	// postgres is the URL of the decision ledger; empty: embedded.
	postgres string
	// decideDeadline bounds each Decide.
	decideDeadline time.Duration
	// claimIdle: see decisionOptions.
	claimIdle time.Duration
	// trackingKey signs tracking links (hex); empty: a random key per
	// process.
	trackingKey string
	// channels is the channels configuration file; empty: every channel on
	// the in-memory outbox, in-app on the inbox.
	channels string
	// dispatch runs a dispatcher in this instance.
	dispatch bool
	// trackingAddr serves the tracking links alone; empty: they are
	// served on the admin address.
	trackingAddr string
}

func serveFlags(cfg *serveConfig, env environment) *flag.FlagSet {
	fs := flagSet("serve", "Runs the gRPC service and the admin HTTP endpoints.", env)
	fs.StringVar(&cfg.grpcAddr, "grpc-addr", "127.0.0.1:7400", "`address` of the gRPC service (port 0: any free port)")
	fs.StringVar(&cfg.httpAddr, "http-addr", "127.0.0.1:7401", "`address` of the admin HTTP endpoints /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.redisURL, "redis", "", "Redis `URL` of the feature store, e.g. redis://localhost:6379/0 (empty: the embedded in-memory store)")
	fs.StringVar(&cfg.features, "features", "", "feature definitions YAML `file` (empty: the built-in definitions)")
	fs.StringVar(&cfg.apiKeys, "api-keys", "", "API keys YAML `file`; when set, every RPC needs \"authorization: Bearer <key>\"")
	fs.BoolVar(&cfg.insecure, "insecure", false, "allow serving gRPC on a non-loopback address without API keys")
	fs.Int64Var(&cfg.logMaxLen, "log-max-len", features.DefaultLogMaxLen, "`entries` (Track calls) the event log keeps; older ones are dropped, read or not")
	fs.StringVar(&cfg.models, "models", "", "model `directory`, watched for new versions, promotions and rollbacks (empty: the models shipped in the binary)")
	fs.StringVar(&cfg.archive, "archive", "", "archive the event log as Parquet files into `directory` (empty: no archive)")
	fs.StringVar(&cfg.campaigns, "campaigns", "", "campaign configuration YAML `file` (empty: the example campaigns shipped in the binary)")
	fs.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL `URL` of the decision ledger, e.g. postgres://kairos@localhost/kairos (empty: the embedded in-memory ledger)")
	fs.StringVar(&cfg.trackingKey, "tracking-key", "", "hex `key` (at least 32 bytes) signing the open, click and unsubscribe links served under /t/ of the admin HTTP address (empty: a random key, so links stop working at a restart)")
	fs.StringVar(&cfg.channels, "channels", "", "channels configuration YAML `file`: providers, limits, retries, templates, tracking links (empty: messages go to the in-memory outbox, shown at /channels/outbox of the admin address; see 'kairos channels example')")
	fs.StringVar(&cfg.trackingAddr, "tracking-addr", "", "`address` serving only the tracking links /t/ (open pixel, click redirects, unsubscribe) — the one address to expose publicly, while the admin address stays private (empty: /t/ is served on the admin address)")
	fs.BoolVar(&cfg.dispatch, "dispatch", true, "run a dispatcher in this instance (sends the messages of SEND decisions)")
	fs.DurationVar(&cfg.claimIdle, "claim-idle", 30*time.Second, "`time` a ledger-queue or event-log entry stays with an instance that stopped answering before another instance takes it over")
	fs.DurationVar(&cfg.decideDeadline, "decide-deadline", decisioning.DefaultDeadline, "`time` a Decide may take; past it, it answers NO_ACTION (reason deadline_exceeded)")
	return fs
}

// parseServe parses the flags of serve, falling back to the environment
// for flags not given.
func parseServe(env environment, args []string) (serveConfig, error) {
	var cfg serveConfig
	err := parseFlags(serveFlags(&cfg, env), env, "serve", args)
	return cfg, err
}

// serve runs the gRPC service and the admin HTTP endpoints until ctx ends.
func serve(ctx context.Context, env environment, args []string) error {
	cfg, err := parseServe(env, args)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	log := logger.With("component", "serve")
	tuneGC(env)

	set := features.Default()
	if cfg.features != "" {
		if set, err = features.Load(cfg.features); err != nil {
			return fmt.Errorf("serve: --features: %w", err)
		}
	}
	var keys *server.Keys
	if cfg.apiKeys != "" {
		if keys, err = server.LoadKeys(cfg.apiKeys); err != nil {
			return fmt.Errorf("serve: --api-keys: %w", err)
		}
	}
	loopback, err := isLoopback(cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("serve: --grpc-addr: %w", err)
	}
	switch {
	case !loopback && keys == nil && !cfg.insecure:
		return fmt.Errorf("serve: refusing to serve gRPC on non-loopback address %s without API keys: "+
			"anyone who can reach it could read and write customer data; "+
			"pass --api-keys FILE (or set KAIROS_API_KEYS) to require keys, "+
			"or --insecure to serve without authentication anyway", cfg.grpcAddr)
	case !loopback && keys == nil:
		log.Warn("serving gRPC without authentication on a non-loopback address (--insecure)", "grpc_addr", cfg.grpcAddr)
	}

	campaigns, err := loadCampaigns(cfg.campaigns, set)
	switch {
	case err != nil && cfg.campaigns != "":
		return fmt.Errorf("serve: --campaigns: %w", err)
	case err != nil:
		// Custom feature definitions the built-in campaigns do not fit:
		// serve features without decisions rather than refuse to start.
		log.Warn("the built-in campaigns do not fit the feature definitions; Decide is off until --campaigns names a file that does", "err", err)
		campaigns = nil
	}

	chCfg, err := loadChannels(cfg.channels, env)
	if err != nil {
		return fmt.Errorf("serve: --channels: %w", err)
	}

	st, err := openStore(ctx, cfg.redisURL, set, cfg.logMaxLen, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := st.close(); cerr != nil {
			log.Error("close feature store", "err", cerr)
		}
	}()

	var lc net.ListenConfig
	grpcLn, err := lc.Listen(ctx, "tcp", cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("serve: listen for gRPC: %w", err)
	}
	defer grpcLn.Close()
	httpLn, err := lc.Listen(ctx, "tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("serve: listen for admin HTTP: %w", err)
	}
	defer httpLn.Close()
	// The tracking links' own address, when they have one; the links in
	// messages point at it (unless the channels configuration names a
	// public base URL).
	linksAddr := httpLn.Addr().String()
	var trackLn net.Listener
	if cfg.trackingAddr != "" {
		if trackLn, err = lc.Listen(ctx, "tcp", cfg.trackingAddr); err != nil {
			return fmt.Errorf("serve: listen for tracking links (--tracking-addr): %w", err)
		}
		defer trackLn.Close()
		linksAddr = trackLn.Addr().String()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry, err := openRegistry(cfg.models, set, logger, reg)
	if err != nil {
		return fmt.Errorf("serve: --models: %w", err)
	}
	dec := &decisionStack{kind: "none", close: func() {}}
	if campaigns != nil {
		dec, err = openDecisioning(ctx, campaigns, st, set, registry,
			decisionOptions{postgres: cfg.postgres, deadline: cfg.decideDeadline, claimIdle: cfg.claimIdle}, logger, reg)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	} else {
		campaigns = &decisioning.Config{Source: "none"}
	}
	defer dec.close()
	// The in-app inbox (GetInbox, AckInbox) lives beside the features.
	var inbox inapp.Store = inapp.NewMemory(chCfg.InboxOptions())
	if st.redis != nil {
		inbox = redisinbox.New(st.redis, chCfg.InboxOptions())
	}
	signer, err := trackingSigner(cfg.trackingKey, log)
	if err != nil {
		return fmt.Errorf("serve: --tracking-key: %w", err)
	}
	var disp *dispatchStack
	if dec.dispatch != nil {
		disp, err = openDispatch(dispatchOptions{run: cfg.dispatch, adminAddr: linksAddr, claimIdle: cfg.claimIdle},
			chCfg, campaigns, dec.dispatch, st, set, inbox, signer, logger, reg)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		dec.checks = append(dec.checks, disp.check)
	}
	srv := server.New(server.Options{
		Store:      st.store,
		Set:        set,
		Logger:     logger.With("component", "server"),
		Registerer: reg,
		Gatherer:   reg,
		Keys:       keys,
		Engine:     dec.engine,
		Ledger:     dec.ledger,
		Checks:     dec.checks,
		Inbox:      inbox,
	})
	gs := srv.GRPC()
	for _, t := range models.Tasks {
		if m := registry.Serving(t); m != nil {
			log.Info("model serving", "task", t, "model", m.Manifest.Name, "version", m.Manifest.Version)
		} else {
			log.Warn("no model serves this task", "task", t, "models", cfg.models)
		}
	}
	var arch *archive.Archiver
	if cfg.archive != "" {
		evlog, ok := st.store.(features.EventLog)
		if !ok {
			return fmt.Errorf("serve: --archive: the %s store has no event log", st.kind)
		}
		w, err := archive.NewWriter(cfg.archive, archive.WriterOptions{})
		if err != nil {
			return fmt.Errorf("serve: --archive: %w", err)
		}
		arch = archive.NewArchiver(evlog, w, archive.ArchiverOptions{
			Logger:     logger.With("component", "archiver"),
			Registerer: reg,
		})
	}
	links := tracking.NewHandler(signer, st.store, set, logger)
	admin := http.NewServeMux()
	admin.Handle("/", srv.AdminHandler())
	admin.Handle("/t/", links)
	if disp != nil {
		admin.Handle("/channels/", disp.handler)
	}
	if dec.ledger != nil {
		// The campaigns' incrementality reports, from the ledger.
		lr := &ledgerReports{cfg: campaigns, ledger: dec.ledger}
		if dec.segments != nil && len(campaigns.Segments) > 0 {
			// The live segments' sizes over time, on the reports index.
			for _, sg := range campaigns.Segments {
				lr.segNames, lr.segWhens = append(lr.segNames, sg.Name), append(lr.segWhens, sg.When)
			}
			lr.segSize, lr.segHistory = dec.segments.SegmentSize, dec.segments.SegmentHistory
		}
		reports := measurement.Handler(lr, logger.With("component", "reports"))
		admin.Handle("/reports", reports)
		admin.Handle("/reports/", reports)
		// Why did (or didn't) a customer get a message.
		admin.Handle("/explain", explainHandler(dec.ledger, dec.triggers, logger.With("component", "explain")))
	}
	if dec.segments != nil && len(campaigns.Segments) > 0 {
		sh := segmentsHandler(campaigns, dec.segments, logger.With("component", "segments"))
		admin.Handle("/segments", sh)
		admin.Handle("/segments/", sh)
	}
	hs := &http.Server{
		Handler:           admin,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "admin").Handler(), slog.LevelWarn),
	}
	var ts *http.Server // the tracking links' own server, with --tracking-addr
	if trackLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/t/", links)
		ts = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.With("component", "tracking").Handler(), slog.LevelWarn),
		}
	}

	fmt.Fprintf(env.stdout, "kairos: serving gRPC on %s, admin HTTP on %s (store: %s, ledger: %s, campaigns: %d)\n",
		grpcLn.Addr(), httpLn.Addr(), st.kind, dec.kind, len(campaigns.Campaigns))
	log.Info("serving",
		"grpc_addr", grpcLn.Addr().String(),
		"http_addr", httpLn.Addr().String(),
		"tracking_addr", linksAddr,
		"store", st.kind,
		"features", len(set.Names()),
		"auth", keys != nil,
		"archive", cfg.archive,
		"ledger", dec.kind,
		"campaigns", campaigns.Source,
		"campaigns_version", campaigns.Version)

	// The archiver, the reward joiner, the policy refresh and the ledger
	// drainer stop after the gRPC server, so that they see the events and
	// decisions of the last calls too.
	afterCtx, stopAfter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAfter()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// ErrServerStopped: ctx ended before Serve began.
		if err := gs.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve admin HTTP: %w", err)
		}
		return nil
	})
	if ts != nil {
		g.Go(func() error {
			if err := ts.Serve(trackLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve tracking links: %w", err)
			}
			return nil
		})
	}
	if arch != nil {
		g.Go(func() error { return arch.Run(afterCtx) })
	}
	if dec.watcher != nil {
		// Triggered decisions stop with the service; the drainer below
		// moves the last of them to the ledger.
		g.Go(func() error { return dec.watcher.Run(gctx) })
	}
	// The joiner and the drainer also outlive the gRPC server: the drainer
	// moves the last decisions to the ledger before serve returns.
	if dec.joiner != nil {
		g.Go(func() error { return dec.joiner.Run(afterCtx) })
	}
	if dec.connect != nil {
		g.Go(func() error { return dec.connect(afterCtx) })
	}
	if dec.engine != nil {
		g.Go(func() error { return dec.engine.RunRefresh(afterCtx, decisioning.DefaultRefresh) })
	}
	// The drainer's last flush waits for the dispatcher: the attempts
	// settled as it stops go to the ledger too.
	dispatched := make(chan struct{})
	if disp != nil && disp.dispatcher != nil {
		g.Go(func() error {
			defer close(dispatched)
			return disp.dispatcher.Run(afterCtx)
		})
	} else {
		close(dispatched)
	}
	if dec.drainer != nil {
		g.Go(func() error {
			err := dec.drainer.Run(afterCtx)
			<-dispatched
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer cancel()
			if ferr := dec.drainer.Flush(fctx); ferr != nil {
				log.Warn("decisions left in the ledger queue at shutdown", "err", ferr)
			}
			return err
		})
	}
	if cfg.models != "" {
		g.Go(func() error { return registry.Watch(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		defer stopAfter()
		log.Info("shutting down")
		// Health first, so that load balancers stop sending while the
		// RPCs in flight finish.
		srv.Shutdown()
		stopped := make(chan struct{})
		go func() {
			gs.GracefulStop()
			close(stopped)
		}()
		timer := time.NewTimer(shutdownTimeout)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			log.Warn("gRPC graceful stop timed out; closing remaining connections", "timeout", shutdownTimeout)
			gs.Stop()
			<-stopped
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if ts != nil {
			if err := ts.Shutdown(sctx); err != nil {
				ts.Close()
			}
		}
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
			return fmt.Errorf("shut down admin HTTP: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// isLoopback reports whether addr (host:port) names a loopback address:
// "localhost" or a loopback IP. An empty host means every interface.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// A host name other than localhost: it may resolve anywhere.
		return false, nil
	}
	return ip.IsLoopback(), nil
}

// trackingSigner returns the signer of tracking links: from hexKey, or a
// random key (logged as a warning) when it is empty.
func trackingSigner(hexKey string, log *slog.Logger) (*tracking.Signer, error) {
	if hexKey == "" {
		key := make([]byte, tracking.MinKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		log.Warn("no --tracking-key: tracking links are signed with a random key and stop working when serve restarts")
		return tracking.NewSigner(key, nil)
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return nil, fmt.Errorf("must be hex, e.g. the output of 'openssl rand -hex 32': %w", err)
	}
	return tracking.NewSigner(key, nil)
}
