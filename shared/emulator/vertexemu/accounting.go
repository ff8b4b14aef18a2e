package vertexemu

import (
	"strings"
	"time"
)

// stats is what the emulator counts for tests; guarded by Server.mu.
type stats struct {
	jobs         int
	predictCalls int64
	predictRows  int64
	// active are the deployments that exist (deploying or serving, until
	// their undeploy operation completes), by deployed model ID.
	active map[string]*deployment
	// deployedTime is the finished deployment time per model ID.
	deployedTime map[string]time.Duration
}

// deployment is one model deployed (or being deployed) to an endpoint.
type deployment struct {
	modelID    string
	deployedID string
	endpoint   string
	since      time.Time
}

// begin starts billing a deployment.
func (st *stats) begin(d *deployment) {
	if st.active == nil {
		st.active = map[string]*deployment{}
	}
	st.active[d.deployedID] = d
}

// end stops billing a deployment.
func (st *stats) end(deployedID string) {
	d, ok := st.active[deployedID]
	if !ok {
		return
	}
	delete(st.active, deployedID)
	if st.deployedTime == nil {
		st.deployedTime = map[string]time.Duration{}
	}
	st.deployedTime[d.modelID] += time.Since(d.since)
}

// DeployedModels is how many deployments exist: from the DeployModel call
// until the deployment fails, is cancelled, or its UndeployModel operation
// completes. This is the span Vertex AI bills for.
func (s *Server) DeployedModels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stats.active)
}

// DeployedTime is the total time model (an ID or a full resource name) has
// been deployed, in the sense of DeployedModels, including a deployment
// that is still running.
func (s *Server) DeployedTime(model string) time.Duration {
	if i := strings.LastIndex(model, "/models/"); i >= 0 {
		model = model[i+len("/models/"):]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.stats.deployedTime[model]
	for _, d := range s.stats.active {
		if d.modelID == model {
			total += time.Since(d.since)
		}
	}
	return total
}

// PredictCalls is how many online Predict calls were served (not counting
// calls refused for quota, injected errors, or an undeployed model).
func (s *Server) PredictCalls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.predictCalls
}

// PredictRows is how many instances the served Predict calls held.
func (s *Server) PredictRows() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.predictRows
}

// BatchJobs is how many batch prediction jobs were created.
func (s *Server) BatchJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.jobs
}
