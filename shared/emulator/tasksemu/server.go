package tasksemu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc"
)

// ErrClosed is returned by WaitIdle when the server closes first.
var ErrClosed = errors.New("tasksemu: server closed")

// Server is a running emulator. Its methods are goroutine-safe.
type Server struct {
	opts      Options
	log       *slog.Logger
	http      *http.Client
	ownsHTTP  bool
	lis       net.Listener
	grpc      *grpc.Server
	serveErr  chan error
	ctx       context.Context // cancelled by Close: stops schedulers, aborts dispatches
	cancel    context.CancelFunc
	wg        sync.WaitGroup // schedulers and dispatch goroutines
	closeOnce sync.Once

	mu         sync.Mutex
	closed     bool
	queues     map[string]*queue    // by full queue name
	tombstones map[string]time.Time // task name -> when it may be reused
	sweepAt    int                  // tombstone count that triggers a sweep
	taskCount  int                  // tasks stored, all queues
	requests   int                  // HTTP requests in flight, all queues
	idle       chan struct{}        // closed while taskCount == 0 && requests == 0
	faults     faultState
	stats      Stats
	seq        uint64
}

// service adapts Server to the generated gRPC interface without exporting
// the RPC methods on Server.
type service struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	s *Server
}

// Start listens on 127.0.0.1 at a free port and serves until Close.
func Start(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tasksemu: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		http:       opts.HTTPClient,
		lis:        lis,
		serveErr:   make(chan error, 1),
		ctx:        ctx,
		cancel:     cancel,
		queues:     make(map[string]*queue),
		tombstones: make(map[string]time.Time),
		sweepAt:    1024,
		idle:       make(chan struct{}),
		faults:     newFaultState(opts.Faults),
		stats:      Stats{StatusCodes: map[int]int{}, MaxConcurrent: map[string]int{}},
	}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.authorize()))
	close(s.idle)
	if s.http == nil {
		s.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.ownsHTTP = true
	}
	cloudtaskspb.RegisterCloudTasksServer(s.grpc, &service{s: s})
	go func() { s.serveErr <- s.grpc.Serve(lis) }()
	return s, nil
}

// Addr is "127.0.0.1:PORT", the value for option.WithEndpoint.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the gRPC server and all dispatching. In-flight dispatch
// requests are cancelled; tasks still stored are discarded. It waits for
// the emulator's goroutines to end.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.grpc.Stop()
		s.wg.Wait()
		if s.ownsHTTP {
			s.http.CloseIdleConnections()
		}
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
			err = fmt.Errorf("tasksemu: serve: %w", serr)
		}
	})
	return err
}

// WaitIdle returns nil once no queue holds a task (scheduled, waiting for
// retry or in flight) and no dispatch request is in flight. A paused queue
// with tasks never becomes idle; ctx bounds the wait.
func (s *Server) WaitIdle(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tasksemu: wait idle: %w", ctx.Err())
	case <-s.ctx.Done():
		return ErrClosed
	}
}

// Pending returns the number of tasks stored in a queue, including tasks
// being dispatched. queue is a full queue name, or a bare queue ID which
// sums every queue with that ID.
func (s *Server) Pending(queue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(queue, "/") {
		if q := s.queues[queue]; q != nil {
			return len(q.tasks)
		}
		return 0
	}
	n := 0
	for _, q := range s.queues {
		if q.ref.id == queue {
			n += len(q.tasks)
		}
	}
	return n
}

// updateIdleLocked opens or closes the idle channel after a change in
// taskCount or requests.
func (s *Server) updateIdleLocked() {
	isIdle := s.taskCount == 0 && s.requests == 0
	select {
	case <-s.idle:
		if !isIdle {
			s.idle = make(chan struct{})
		}
	default:
		if isIdle {
			close(s.idle)
		}
	}
}
