// Package bqemu is an in-process BigQuery emulator that speaks the REST
// (bigquery/v2) wire protocol closely enough for the real Go client, and the
// production code built on it, to run offline.
//
// It covers datasets, tables (with DAY time partitioning and clustering),
// asynchronous load jobs from Cloud Storage CSV files, tabledata.list with
// paging, a small SQL subset for query jobs, switchable faults, and, with an
// iamemu.Authorizer set, IAM checks of every request (iam.go). Anything
// outside that subset is answered with a 400 error whose message says it is
// unsupported by the emulator, so a test never passes on behaviour BigQuery
// would not show.
package bqemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/storage"
)

// Options configure a Server.
type Options struct {
	// Storage reads load-job source URIs (gs://bucket/object, with one '*'
	// wildcard allowed in the object name). It reads as BigQuery itself
	// (gcsemu's owner client); with an Authorizer set, the emulator checks
	// the job creator's Cloud Storage permissions before reading (iam.go).
	Storage *storage.Client
	// JobLatency is how long a job takes to go from PENDING through RUNNING to
	// DONE. Zero means a job reports RUNNING when inserted and DONE at the
	// first poll.
	JobLatency time.Duration
	// Logger receives request and job logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock that decides "today" for ingestion-time partitions and
	// stamps dataset and table times; nil means time.Now. Job latency is
	// always measured on the real clock.
	Now func() time.Time
}

// Server is a running emulator listening on loopback.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	store    *store
	faults   *faultInjector
	listener net.Listener
	http     *http.Server
	ctx      context.Context
	cancel   context.CancelFunc
	jobsWG   sync.WaitGroup
	serveErr chan error
	authz    authz
}

// Start listens on 127.0.0.1 at a free port and serves until Close.
func Start(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bqemu: listen: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		log:      logger,
		now:      now,
		store:    newStore(),
		faults:   newFaultInjector(),
		listener: ln,
		ctx:      ctx,
		cancel:   cancel,
		serveErr: make(chan error, 1),
	}
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serveErr <- s.http.Serve(ln) }()
	return s, nil
}

// URL is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Endpoint is the value for option.WithEndpoint: the base URL followed by
// /bigquery/v2/ (the trailing slash matters to the client).
func (s *Server) Endpoint() string { return s.URL() + "/bigquery/v2/" }

// Close stops the listener, drops open connections (in-flight requests are
// cut off, as a crashed backend would) and ends every job still running.
func (s *Server) Close() error {
	s.cancel()
	err := s.http.Close()
	s.jobsWG.Wait()
	if serveErr := <-s.serveErr; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("bqemu: close: %w", err)
	}
	return nil
}

// routes maps the REST surface the emulator implements; everything else is
// answered as unsupported.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	unsupported := func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errUnsupported("%s %s", r.Method, r.URL.Path))
	}
	const p = "/bigquery/v2/projects/{project}"
	for path, methods := range map[string]map[string]http.HandlerFunc{
		p + "/datasets":           {"GET": s.listDatasets, "POST": s.guard("bigquery.datasets.create", s.insertDataset)},
		p + "/datasets/{dataset}": {"GET": s.guard("bigquery.datasets.get", s.getDataset), "DELETE": s.guard("bigquery.datasets.delete", s.deleteDataset)},
		p + "/datasets/{dataset}/tables": {"GET": s.guard("bigquery.tables.list", s.listTables),
			"POST": s.guard("bigquery.tables.create", s.insertTable)},
		p + "/datasets/{dataset}/tables/{table}": {"GET": s.guard("bigquery.tables.get", s.getTable),
			"PATCH": s.guard("bigquery.tables.update", s.patchTable), "PUT": s.guard("bigquery.tables.update", s.updateTable),
			"DELETE": s.guard("bigquery.tables.delete", s.deleteTable)},
		p + "/datasets/{dataset}/tables/{table}/data": {"GET": s.guard("bigquery.tables.getData", s.listTableData)},
		p + "/jobs":              {"POST": s.insertJob},
		p + "/jobs/{job}":        {"GET": s.getJob},
		p + "/jobs/{job}/cancel": {"POST": s.cancelJob},
		p + "/queries":           {"POST": s.runQuery},
		p + "/queries/{job}":     {"GET": s.getQueryResults},
	} {
		for method, h := range methods {
			mux.HandleFunc(method+" "+path, h)
		}
		// Other methods on a known path are unsupported rather than 405.
		mux.HandleFunc(path, unsupported)
	}
	mux.HandleFunc("/", unsupported)
	return s.withFaults(mux)
}

// withFaults logs each request and answers some with a 5xx when the fault
// switches say so, before the request has any effect.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("bqemu request", "method", r.Method, "path", r.URL.Path)
		if s.faults.serverError() {
			s.writeError(w, r, errBackend())
			return
		}
		next.ServeHTTP(w, r)
	})
}
