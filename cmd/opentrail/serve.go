package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api"
	"github.com/opentrail/opentrail/api/s3api"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/blob/sse"
	"github.com/opentrail/opentrail/console"
	"github.com/opentrail/opentrail/delivery"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/kms"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lakeingest"
	"github.com/opentrail/opentrail/sns"
)

// DefaultListen is where `opentrail serve` listens unless told otherwise.
const DefaultListen = "127.0.0.1:8077"

const serveSynopsis = `Usage: opentrail serve [flags]

Runs opentrail on a data directory: the AWS CloudTrail API (and the
CloudTrail Data API for PutAuditEvents) on one HTTP listener, every call
recorded in the event history. On first start it creates an account and a
root access key and writes them to DATA_DIR/credentials (mode 0600).

Point the AWS CLI at it with --endpoint-url, for example:
  AWS_SHARED_CREDENTIALS_FILE=./opentrail-data/credentials AWS_PROFILE=opentrail \
    aws --endpoint-url http://127.0.0.1:8077 cloudtrail lookup-events

The root key can also be given in OPENTRAIL_ROOT_ACCESS_KEY_ID and
OPENTRAIL_ROOT_SECRET_ACCESS_KEY (environment only).`

// Main is the `opentrail serve` program: ParseFlags, then Run (or Serve,
// which also waits for ctx to end), then Close.
type Main struct {
	DataDir          string
	Listen           string
	AccountID        string
	Regions          string
	LogFormat        string
	LogLevel         string
	Synchronous      string
	HistoryRetention time.Duration
	RetentionEvery   time.Duration
	LookupRate       float64
	TLSCert, TLSKey  string
	DeliveryInterval time.Duration
	BucketBackend    string
	S3Endpoint       string
	S3Region         string
	SNSBackend       string
	DigestInterval   time.Duration
	SNSEndpoint      string
	SNSRegion        string
	PublicURL        string
	QueryTimeout     time.Duration
	LakeMemoryLimit  string

	stdout, stderr io.Writer
	getenv         func(string) string

	log         *slog.Logger
	db          *journal.DB
	history     *history.Index
	buckets     blob.Store // the embedded bucket store
	sns         *sns.Service
	kms         *kms.Service
	signingKeys *integrity.Keys
	lake        *lake.Engine // CloudTrail Lake's event data stores (lake.go)
	api         *api.Server
	keysNow     func() time.Time // the signing keys' clock (tests: key rotation); nil: time.Now
	// resultFileBytes bounds saved Lake result files (tests: several files
	// from small results); 0: lakeresults' default.
	resultFileBytes int64
	server          *http.Server
	listener        net.Listener
	lock            *os.File
	cancel          context.CancelFunc
	wg              sync.WaitGroup

	// Account and RootKey are the identity set up by Run.
	Account      string
	RootKey      *opentrail.AccessKey
	printWelcome bool
}

// NewMain returns a Main writing to the given streams.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{stdout: stdout, stderr: stderr, getenv: os.Getenv}
}

// ParseFlags reads flags and their environment variables.
func (m *Main) ParseFlags(args []string) error {
	fs := newFlagSet("serve", serveSynopsis, m.stderr)
	fs.String(&m.DataDir, "data-dir", "OPENTRAIL_DATA_DIR", "./opentrail-data", "directory holding opentrail's state")
	fs.String(&m.Listen, "listen", "OPENTRAIL_LISTEN", DefaultListen, "host:port to listen on")
	fs.String(&m.AccountID, "account-id", "OPENTRAIL_ACCOUNT_ID", "", "12-digit ID of the default account (created if new; default: the data directory's, or a random one on first start)")
	fs.String(&m.Regions, "regions", "OPENTRAIL_REGIONS", strings.Join(opentrail.DefaultRegions, ","), "comma-separated regions to serve")
	fs.String(&m.LogFormat, "log-format", "OPENTRAIL_LOG_FORMAT", "text", "log format: text or json")
	fs.String(&m.LogLevel, "log-level", "OPENTRAIL_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	fs.String(&m.Synchronous, "synchronous", "OPENTRAIL_SYNCHRONOUS", "FULL", "FULL: acknowledged events survive power loss; NORMAL: they survive a crash of opentrail (faster)")
	fs.Duration(&m.HistoryRetention, "history-retention", "OPENTRAIL_HISTORY_RETENTION", history.DefaultRetention, "how long events stay in event history (AWS: 90 days)")
	fs.Duration(&m.RetentionEvery, "retention-interval", "OPENTRAIL_RETENTION_INTERVAL", time.Hour, "how often expired events are removed")
	fs.Float(&m.LookupRate, "lookup-rate-limit", "OPENTRAIL_LOOKUP_RATE_LIMIT", 0, "LookupEvents requests per second per account and region before ThrottlingException (AWS: 2; 0 = no limit)")
	fs.Duration(&m.DeliveryInterval, "delivery-interval", "OPENTRAIL_DELIVERY_INTERVAL", delivery.DefaultInterval, "longest wait before a trail writes a log file (AWS: about 5m; at least 1s)")
	fs.String(&m.BucketBackend, "bucket-backend", "OPENTRAIL_BUCKET_BACKEND", "embedded", "where trails deliver log files: embedded (DATA_DIR/buckets, served on the listener) or s3 (an S3-compatible service: --s3-endpoint, OPENTRAIL_S3_ACCESS_KEY_ID, OPENTRAIL_S3_SECRET_ACCESS_KEY)")
	fs.String(&m.S3Endpoint, "s3-endpoint", "OPENTRAIL_S3_ENDPOINT", "", "URL of the S3-compatible service of --bucket-backend s3 (path-style requests)")
	fs.String(&m.S3Region, "s3-region", "OPENTRAIL_S3_REGION", "us-east-1", "region to sign requests to --s3-endpoint with")
	fs.Duration(&m.DigestInterval, "digest-interval", "OPENTRAIL_DIGEST_INTERVAL", delivery.DefaultDigestInterval, "how long each digest file of trails with log file validation covers (AWS: 1h; at least 1s)")
	fs.String(&m.SNSBackend, "sns-backend", "OPENTRAIL_SNS_BACKEND", "embedded", "where trails' notifications go: embedded (the SNS-compatible service on the listener) or sns (an SNS-compatible service: --sns-endpoint, OPENTRAIL_SNS_ACCESS_KEY_ID, OPENTRAIL_SNS_SECRET_ACCESS_KEY)")
	fs.String(&m.SNSEndpoint, "sns-endpoint", "OPENTRAIL_SNS_ENDPOINT", "", "URL of the SNS-compatible service of --sns-backend sns (for AWS: https://sns.REGION.amazonaws.com)")
	fs.String(&m.SNSRegion, "sns-region", "OPENTRAIL_SNS_REGION", "us-east-1", "region to sign requests to --sns-endpoint with")
	fs.String(&m.PublicURL, "public-url", "OPENTRAIL_PUBLIC_URL", "", "URL clients and SNS subscribers reach opentrail at (default: the listen address)")
	fs.Duration(&m.QueryTimeout, "query-timeout", "OPENTRAIL_QUERY_TIMEOUT", api.DefaultQueryTimeout, "run-time limit of a CloudTrail Lake query (AWS: 1h); it then ends TIMED_OUT")
	fs.String(&m.LakeMemoryLimit, "lake-memory-limit", "OPENTRAIL_LAKE_MEMORY_LIMIT", "", "memory CloudTrail Lake's DuckDB may use, e.g. 2GB (default: DuckDB's, 80% of RAM)")
	fs.String(&m.TLSCert, "tls-cert", "OPENTRAIL_TLS_CERT", "", "PEM certificate file: serve HTTPS")
	fs.String(&m.TLSKey, "tls-key", "OPENTRAIL_TLS_KEY", "", "PEM private key file for --tls-cert")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments (got %q); see opentrail serve -h", fs.Args())
	}
	if m.AccountID != "" && !opentrail.ValidAccountID(m.AccountID) {
		return fmt.Errorf("--account-id %q is not a 12-digit account ID", m.AccountID)
	}
	if (m.TLSCert == "") != (m.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if m.HistoryRetention < time.Minute {
		return errors.New("--history-retention must be at least 1m")
	}
	if _, err := opentrail.ParseRegions(m.Regions); err != nil {
		return fmt.Errorf("--regions: %s", opentrail.ErrorMessage(err))
	}
	if m.DeliveryInterval < time.Second {
		return errors.New("--delivery-interval must be at least 1s")
	}
	if m.DigestInterval < time.Second {
		return errors.New("--digest-interval must be at least 1s")
	}
	if m.SNSBackend != "embedded" && m.SNSBackend != "sns" {
		return fmt.Errorf("--sns-backend %q: use embedded or sns", m.SNSBackend)
	}
	if m.BucketBackend != "embedded" && m.BucketBackend != "s3" {
		return fmt.Errorf("--bucket-backend %q: use embedded or s3", m.BucketBackend)
	}
	return nil
}

func (m *Main) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", m.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch m.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(m.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(m.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", m.LogFormat)
}

// Serve runs the server until ctx ends, then shuts it down gracefully.
func (m *Main) Serve(ctx context.Context) error {
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.log.Info("shutting down")
	return m.Close()
}

// Run opens the data directory, sets up identity, and starts listening and
// the background work. It returns once the server accepts requests.
func (m *Main) Run(ctx context.Context) error {
	log, err := m.logger()
	if err != nil {
		return err
	}
	m.log = log
	regions, _ := opentrail.ParseRegions(m.Regions)
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := m.lockDataDir(); err != nil {
		return err
	}
	start := time.Now()
	m.db, err = journal.Open(ctx, filepath.Join(m.DataDir, "opentrail.db"), journal.Options{Logger: log, Synchronous: m.Synchronous,
		Migrations: slices.Concat(delivery.Migrations, sns.Migrations, integrity.Migrations, kms.Migrations, lakeingest.Migrations)})
	if err != nil {
		return err
	}
	if err := m.setupIdentity(ctx); err != nil {
		return err
	}
	m.history, err = history.Open(ctx, m.db, history.Options{Dir: filepath.Join(m.DataDir, "history"),
		Retention: m.HistoryRetention, Logger: log})
	if err != nil {
		return err
	}
	m.listener, err = net.Listen("tcp", m.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (use --listen to pick another address)", m.Listen, err)
	}
	// One key-encryption key protects the digest signing keys and the KMS
	// keys at rest (see integrity.LoadKEK).
	kek, generated, err := integrity.LoadKEK(m.DataDir, m.getenv)
	if err != nil {
		return err
	}
	if generated {
		log.Warn("created a key-encryption key beside the data; set "+integrity.KEKEnv+" to keep it elsewhere",
			slog.String("file", filepath.Join(m.DataDir, "keys", "kek")))
	}
	if m.signingKeys, err = integrity.NewKeys(m.db, kek, m.keysNow); err != nil {
		return err
	}
	if m.kms, err = kms.New(kms.Options{DB: m.db, KEK: kek, Log: log}); err != nil {
		return err
	}
	dir, err := blob.NewDir(filepath.Join(m.DataDir, "buckets"))
	if err != nil {
		return err
	}
	m.buckets = sse.New(dir, m.kms) // SSE-KMS objects are stored encrypted
	trailStore := m.buckets
	if m.BucketBackend == "s3" {
		if trailStore, err = m.s3Backend(); err != nil {
			return err
		}
	}
	publicURL := m.PublicURL
	if publicURL == "" {
		publicURL = m.URL()
	}
	m.sns, err = sns.New(m.db, sns.Options{BaseURL: publicURL, KeyFile: filepath.Join(m.DataDir, "sns-signing-key.pem"), Logger: log})
	if err != nil {
		return err
	}
	var trailTopics api.Topics = topics{m.sns}
	var trailNotifier delivery.Notifier = notifier{m.sns}
	if m.SNSBackend == "sns" {
		ext, err := m.snsBackend()
		if err != nil {
			return err
		}
		trailTopics, trailNotifier = ext, ext
	}
	s3h := &s3api.Handler{Store: m.buckets, Log: log, Keys: m.kms}
	var trailKeys api.KMSKeys
	if m.BucketBackend == "embedded" {
		trailKeys = kmsTrailKeys{m.kms}
	}
	lakeIngest, err := m.openLake(ctx)
	if err != nil {
		return err
	}
	var webConsole *console.Console // set below: it calls the API handler
	handler := api.New(api.Config{
		DB:         m.db,
		History:    m.history,
		Regions:    regions,
		Logger:     log,
		LookupRate: m.LookupRate,
		Buckets:    trailStore,

		RequireBucketPolicy: m.BucketBackend == "embedded",
		Topics:              trailTopics,
		PublicKeys:          m.signingKeys,
		KMSKeys:             trailKeys,
		Services: map[string]api.Service{
			"s3": api.ServiceFuncs{ServeFunc: s3h.Serve, WriteErrorFunc: s3api.WriteError, Source: "s3.amazonaws.com", Streams: true},
			"sns": api.ServiceFuncs{ServeFunc: m.sns.Serve, Source: "sns.amazonaws.com",
				WriteErrorFunc: func(w http.ResponseWriter, r *http.Request, code, message, requestID string) {
					sns.WriteError(w, requestID, &opentrail.Error{Code: code, Message: message})
				}},
			"kms": m.kms,
		},
		Unauthenticated: func(w http.ResponseWriter, r *http.Request) bool {
			return m.sns.ServeUnauthenticated(w, r) || webConsole.ServeUnauthenticated(w, r)
		},
		Lake:            m.lake,
		QueryTimeout:    m.QueryTimeout,
		QueryResults:    queryResults{trailStore},
		ResultFileBytes: m.resultFileBytes,
		ResultSigner:    m.signingKeys,
	})
	m.api = handler
	// The web console at /console/, acting through the API (package console).
	webConsole = console.New(console.Config{API: handler, Account: m.Account, Regions: regions, Logger: log})
	deliveries := delivery.New(delivery.Options{DB: m.db, Store: objectStore{trailStore}, Notifier: trailNotifier,
		Interval: m.DeliveryInterval, Logger: log, Signers: m.signingKeys, DigestInterval: m.DigestInterval, Regions: regions})
	m.server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	// Lake imports read log files from the bucket backend (lakeingest.Importer).
	imports := lakeingest.NewImporter(lakeingest.ImporterOptions{DB: m.db, Lake: m.lake, Buckets: trailStore, Logger: log})
	m.wg.Add(8)
	go func() {
		defer m.wg.Done()
		lakeIngest.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		imports.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		m.kms.Run(bg, time.Minute)
	}()
	go func() {
		defer m.wg.Done()
		deliveries.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		m.sns.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		var err error
		if m.TLSCert != "" {
			err = m.server.ServeTLS(m.listener, m.TLSCert, m.TLSKey)
		} else {
			err = m.server.Serve(m.listener)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", slog.String("err", err.Error()))
		}
	}()
	go func() {
		defer m.wg.Done()
		m.history.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		m.expireLoop(bg)
	}()
	if addr := m.getenv("OPENTRAIL_PPROF_LISTEN"); addr != "" {
		// Profiling for operators chasing a performance problem: never on
		// the API listener, only where asked.
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			log.Warn("profiling endpoint enabled", slog.String("listen", addr))
			if err := http.ListenAndServe(addr, mux); err != nil {
				log.Error("profiling endpoint", slog.String("err", err.Error()))
			}
		}()
	}
	log.Info("opentrail started", slog.String("version", version()), slog.String("listen", m.URL()),
		slog.String("data_dir", m.DataDir), slog.String("account", m.Account), slog.Int("regions", len(regions)),
		slog.Duration("startup", time.Since(start)))
	if m.printWelcome {
		m.welcome()
	} else {
		where := "from OPENTRAIL_ROOT_ACCESS_KEY_ID"
		if m.getenv("OPENTRAIL_ROOT_ACCESS_KEY_ID") == "" {
			where = "credentials in " + filepath.Join(m.DataDir, "credentials")
		}
		fmt.Fprintf(m.stdout, "opentrail is serving account %s at %s (root key %s, %s)\n", m.Account, m.URL(), m.RootKey.ID, where)
	}
	return nil
}

// URL is the endpoint URL clients use.
func (m *Main) URL() string {
	scheme := "http"
	if m.TLSCert != "" {
		scheme = "https"
	}
	if m.listener == nil {
		return scheme + "://" + m.Listen
	}
	return scheme + "://" + m.listener.Addr().String()
}

func (m *Main) expireLoop(ctx context.Context) {
	t := time.NewTicker(m.RetentionEvery)
	defer t.Stop()
	for {
		parts, events, err := m.history.Expire(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Error("expire event history", slog.String("err", err.Error()))
		} else if parts > 0 || events > 0 {
			m.log.Info("expired event history", slog.Int("partitions", parts), slog.Int64("events", events))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops accepting requests, lets those in flight finish, stops the
// background work and closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if m.api != nil {
		m.api.Close() // stops running Lake queries
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.lake != nil {
		errs = append(errs, m.lake.Close())
		m.lake = nil
	}
	if m.history != nil {
		errs = append(errs, m.history.Close())
		m.history = nil
	}
	if m.db != nil {
		errs = append(errs, m.db.Close())
		m.db = nil
	}
	if m.lock != nil {
		m.lock.Close()
		m.lock = nil
	}
	return errors.Join(errs...)
}

// lockDataDir keeps a second server off the same data directory.
func (m *Main) lockDataDir() error {
	f, err := os.OpenFile(filepath.Join(m.DataDir, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another opentrail server is using %s (%v)", m.DataDir, err)
	}
	m.lock = f
	return nil
}
