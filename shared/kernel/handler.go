package kernel

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/taskq"
)

// Handler serves step s to Cloud Tasks. Status codes: 2xx when the delivery
// needs no retry (done, continue, poll-later, failed for good, or nothing to
// do); 503 with Retry-After while another delivery holds the step; 5xx for
// transient errors; 4xx for a malformed task, which changes nothing. Cloud
// Tasks retries every answer but a 2xx, 4xx included, until max_attempts
// (fixture tasks-success-codes). The attempt is X-CloudTasks-TaskRetryCount,
// which counts every earlier attempt; X-CloudTasks-TaskExecutionCount skips
// 5xx answers and cannot tell the last attempt (tasks-retry-execution-count).
func (k *Kernel) Handler(s Step) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "POST a task", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, taskq.MaxBody+1))
		if err != nil {
			http.Error(w, "read task: "+err.Error(), http.StatusBadRequest)
			return
		}
		t, err := taskq.Decode(body)
		if err == nil && t.Step != s.Name() {
			err = fmt.Errorf("task for step %q sent to %q", t.Step, s.Name())
		}
		if err == nil && !run.ValidID(t.RunID) {
			err = fmt.Errorf("invalid run_id %q", t.RunID)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := req.Context()
		log := logging.FromRequest(k.log, req, k.cfg.Project).With("run_id", t.RunID, "step", t.Step, "segment", t.Segment, "epoch", t.Epoch)
		attempt, _ := strconv.Atoi(req.Header.Get("X-CloudTasks-TaskRetryCount"))
		rep := k.execute(ctx, s, t, attempt, log)
		if rep.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rep.retryAfter.Seconds()))))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rep.code)
		io.WriteString(w, rep.msg+"\n")
	})
}
