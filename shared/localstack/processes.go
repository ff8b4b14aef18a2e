package localstack

// Each function as its own process (Options.Processes): the emulators stay in
// the stack's process; every function runs as a child process of the
// deployable bundle (./cmd/functions, functions-framework with
// FUNCTION_TARGET), configured purely by environment variables as Terraform
// configures it, on a loopback port of its own. The stack's URL keeps serving
// /NAME by proxying to the child, so Cloud Tasks targets and StepBaseURL are
// unchanged; the bridges deliver the CloudEvent functions' events (ingest,
// notify) over HTTP as Eventarc does. Each child's peak resident memory is its
// own, as Cloud Run measures an instance's.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
)

// modulePath is the module whose ./cmd/functions the children run.
const modulePath = "github.com/dropcast/dropcast"

// processes are the functions' child processes, by function name.
type processes struct {
	children  map[string]*child
	transport *http.Transport
	dir       string // the built binary's temporary directory ("" when prebuilt)
}

// child is one function's process, restarted if it exits on its own (as Cloud
// Run starts a new instance).
type child struct {
	name string
	bin  string
	env  []string
	log  *slog.Logger

	mu      sync.Mutex
	cmd     *exec.Cmd
	target  *url.URL
	peak    int64 // bytes: the highest peak of the instances that ended
	exited  chan struct{}
	closing bool
	done    chan struct{} // closed when the supervisor has returned
}

// startProcesses builds ./cmd/functions (unless opts.FunctionsBinary names a
// build) and starts one child per function, each with the stack's
// configuration as its environment and its own emulator identity.
func (s *Stack) startProcesses(ctx context.Context, opts Options) (_ *processes, err error) {
	p := &processes{children: map[string]*child{}, transport: &http.Transport{
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
	}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	bin := opts.FunctionsBinary
	if bin == "" {
		if p.dir, err = os.MkdirTemp("", "dropcast-functions-"); err != nil {
			return nil, fmt.Errorf("localstack: processes: %w", err)
		}
		if bin, err = buildFunctions(ctx, p.dir); err != nil {
			return nil, err
		}
	}
	for _, fn := range Functions {
		c := s.Config
		if s.IAM != nil {
			c.EmulatorIdentity = s.Identities[fn]
		}
		ch := &child{name: fn, bin: bin, env: childEnv(c, fn), log: opts.Log.With("function", fn), done: make(chan struct{})}
		if err := ch.start(ctx); err != nil {
			return nil, err
		}
		p.children[fn] = ch
		go ch.supervise()
	}
	return p, nil
}

// buildFunctions builds ./cmd/functions of the dropcast module the current
// directory is in, into dir.
func buildFunctions(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("localstack: processes: go env GOMOD (the go command builds ./cmd/functions; or set Options.FunctionsBinary): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if b, err := os.ReadFile(gomod); err != nil || !declaresModule(b, modulePath) {
		return "", fmt.Errorf("localstack: processes: the current directory is not in the %s module (go.mod %q): run from the repository, or set Options.FunctionsBinary to a build of ./cmd/functions", modulePath, gomod)
	}
	bin := filepath.Join(dir, "functions")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/functions")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("localstack: processes: go build ./cmd/functions: %w\n%s", err, out)
	}
	return bin, nil
}

// declaresModule reports whether go.mod content b declares module path.
func declaresModule(b []byte, path string) bool {
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == path
		}
	}
	return false
}

// childEnv is a function's whole environment: every configuration variable
// (shared/config) with its value in c — defaults written out, so that a value
// Configure set to zero stays zero — and FUNCTION_TARGET. Nothing is
// inherited from the stack's own environment. PORT is added at each start.
func childEnv(c config.Config, fn string) []string {
	env := []string{"FUNCTION_TARGET=" + fn, "LOCAL_ONLY=true"}
	v := reflect.ValueOf(c)
	for i, vr := range config.Vars() {
		f := v.Field(i)
		if f.Kind() == reflect.String && f.String() == "" {
			continue
		}
		env = append(env, vr.Name+"="+fmt.Sprint(f.Interface()))
	}
	return env
}

// start starts an instance on a free port and waits until it listens.
func (c *child) start(ctx context.Context) error {
	var last error
	for range 3 { // a port taken between choosing and binding: choose again
		port, err := freePort()
		if err != nil {
			return err
		}
		cmd := exec.Command(c.bin)
		cmd.Env = append(c.env, "PORT="+strconv.Itoa(port))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("localstack: %s: %w", c.name, err)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return fmt.Errorf("localstack: %s: %w", c.name, err)
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("localstack: start %s: %w", c.name, err)
		}
		exited := make(chan struct{})
		var logs sync.WaitGroup
		logs.Add(2)
		go func() { defer logs.Done(); forwardLogs(c.log, stdout) }()
		go func() { defer logs.Done(); forwardLogs(c.log, stderr) }()
		go func() {
			logs.Wait() // Wait closes the pipes: read them to the end first
			cmd.Wait()
			close(exited)
		}()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if last = waitListening(ctx, addr, exited); last == nil {
			c.mu.Lock()
			c.cmd, c.exited, c.target = cmd, exited, &url.URL{Scheme: "http", Host: addr}
			c.mu.Unlock()
			return nil
		}
		cmd.Process.Kill()
		<-exited
		c.recordPeak(cmd)
	}
	return fmt.Errorf("localstack: start %s: %w", c.name, last)
}

// supervise restarts the instance whenever it exits while the stack runs.
func (c *child) supervise() {
	defer close(c.done)
	for {
		c.mu.Lock()
		exited, cmd := c.exited, c.cmd
		c.mu.Unlock()
		<-exited
		c.recordPeak(cmd)
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		c.log.Error("function process exited; starting a new one", "state", cmd.ProcessState.String())
		for {
			err := c.start(context.Background())
			if err == nil {
				break
			}
			c.log.Error("function process did not start", "err", err)
			time.Sleep(time.Second)
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return
			}
		}
	}
}

// stop ends the instance (SIGTERM, as Cloud Run does; SIGKILL after 5 s) and
// waits for it and its supervisor, having read its peak memory first.
func (c *child) stop() {
	c.mu.Lock()
	c.closing = true
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	if hwm, err := vmHWM(cmd.Process.Pid); err == nil {
		c.notePeak(hwm)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
	}
	<-c.done
}

// peakRSS is the child's peak resident set size in bytes: the highest of its
// ended instances' and the running one's so far.
func (c *child) peakRSS() int64 {
	c.mu.Lock()
	cmd, exited, peak := c.cmd, c.exited, c.peak
	c.mu.Unlock()
	if cmd == nil {
		return peak
	}
	select {
	case <-exited:
	default:
		if hwm, err := vmHWM(cmd.Process.Pid); err == nil {
			peak = max(peak, hwm)
		}
	}
	return peak
}

// recordPeak notes an ended instance's peak from its rusage (ru_maxrss:
// "the maximum resident set size used (in kilobytes)", getrusage(2)).
func (c *child) recordPeak(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		return
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c.notePeak(ru.Maxrss * 1024)
	}
}

func (c *child) notePeak(bytes int64) {
	c.mu.Lock()
	c.peak = max(c.peak, bytes)
	c.mu.Unlock()
}

// vmHWM reads a running process's peak resident set size in bytes: VmHWM in
// /proc/PID/status ("Peak resident set size ('high water mark')", proc(5)).
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmHWM %q: %w", pid, rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}

func (c *child) url() *url.URL {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target
}

// freePort is a loopback TCP port nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localstack: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections, the process exits or
// 60 s pass.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the process exited before it listened")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after 60s", addr)
		}
	}
}

// forwardLogs copies a child's output to log, line by line: its JSON lines
// (shared/logging's Cloud Logging form) with their severity, message and
// fields, any other line as it is.
func forwardLogs(log *slog.Logger, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var entry map[string]any
		if json.Unmarshal(line, &entry) != nil {
			log.Info(string(line))
			continue
		}
		level := slog.LevelInfo
		switch entry["severity"] {
		case "DEBUG":
			level = slog.LevelDebug
		case "WARNING":
			level = slog.LevelWarn
		case "ERROR":
			level = slog.LevelError
		}
		msg, _ := entry["message"].(string)
		attrs := make([]any, 0, 2*len(entry))
		for k, v := range entry {
			if k != "severity" && k != "message" && k != "timestamp" {
				attrs = append(attrs, k, v)
			}
		}
		log.Log(context.Background(), level, msg, attrs...)
	}
	io.Copy(io.Discard, r) // a line longer than the buffer: keep the pipe draining
}

// routes serves every HTTP function at /NAME (and the status page under
// /status/) by proxying to its process, the request path unchanged: a
// process serves its one function at every path.
func (p *processes) routes() http.Handler {
	mux := http.NewServeMux()
	for _, fn := range []string{"preprocess", "load", "predict", "postprocess", "export", "sweep", "trigger", "status"} {
		c := p.children[fn]
		proxy := &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(c.url())
				r.Out.Host = r.In.Host
			},
			Transport: p.transport,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				c.log.Warn("proxy to the function's process failed", "path", r.URL.Path, "err", err)
				http.Error(w, fmt.Sprintf("%s: %v", fn, err), http.StatusBadGateway)
			},
		}
		mux.Handle("/"+fn, proxy)
		if fn == "status" {
			mux.Handle("/status/", proxy)
		}
	}
	return mux
}

// deliver hands a CloudEvent to its function's process as Eventarc delivers
// to a Cloud Run function: an HTTP POST in binary content mode ("Eventarc
// delivers events, regardless of provider, to the target destination in a
// CloudEvents format in binary content mode", https://cloud.google.com/eventarc/docs/event-format;
// fixture eventarc-binary-content-mode). A non-2xx answer is an error, so
// the bridge redelivers the message.
func (p *processes) deliver(ctx context.Context, fn string, e event.Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.children[fn].url().String(), nil)
	if err != nil {
		return fmt.Errorf("deliver %s to %s: %w", e.ID(), fn, err)
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("deliver %s to %s: encode: %w", e.ID(), fn, err)
	}
	resp, err := (&http.Client{Transport: p.transport}).Do(req)
	if err != nil {
		return fmt.Errorf("deliver %s to %s: %w", e.ID(), fn, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("deliver %s to %s: %s: %s", e.ID(), fn, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// close stops every child and removes the build.
func (p *processes) close() {
	var wg sync.WaitGroup
	for _, c := range p.children {
		wg.Go(c.stop)
	}
	wg.Wait()
	p.transport.CloseIdleConnections()
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// deliverEvent hands a CloudEvent to the CloudEvent function fn: to its
// process with Options.Processes, else to handle on the function's App.
func (s *Stack) deliverEvent(ctx context.Context, fn string, handle func(context.Context, *app.App, event.Event) error, e event.Event) error {
	if s.procs != nil {
		return s.procs.deliver(ctx, fn, e)
	}
	return handle(ctx, s.Apps[fn], e)
}

// PeakRSS is each function process's peak resident set size in bytes, by
// function name (Options.Processes; nil otherwise): the high-water mark of
// its instance so far (VmHWM), or of any earlier instance that exited, as
// Cloud Run's memory limit applies to an instance. After Close it is the
// peak of the whole life of each process.
func (s *Stack) PeakRSS() map[string]int64 {
	if s.procs == nil {
		return nil
	}
	out := make(map[string]int64, len(s.procs.children))
	for fn, c := range s.procs.children {
		out[fn] = c.peakRSS()
	}
	return out
}
