// Package holds is the registry of online model deployments shared by runs.
// A run that predicts online holds its model while it predicts; concurrent
// runs of one model hold it together, and only the last one out undeploys
// it, so one run's undeploy never cuts another's predictions.
//
// Each model (per backend) has one JSON record in the state bucket,
// gs://STATE/models/<backend>/<escaped model name>.json, changed only by
// compare-and-swap on the object's generation, as run records are. The record
// also remembers that a deployment was started, so the sweeper can undeploy a
// model whose holders all died: no backend lists deployments generically.
//
// The protocol: Acquire adds a holder and marks the model deployed (unless an
// undeploy is under way: the holder then waits for it to end before
// deploying). Release removes a holder; the release that leaves no holder
// also claims the undeploy in the same write, so no Acquire can slip in
// between the decision and the claim. The claimant records the undeploy
// operation (SetUndeployOp) and, once it is done, FinishUndeploy clears the
// claim. Anyone who sees a claim whose operation is done may finish it.
package holds

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one model's holds.
type Record struct {
	Backend string `json:"backend"`
	Model   string `json:"model"`
	// Holders are the runs holding the model (Holder(runID, epoch)) and since when.
	Holders map[string]time.Time `json:"holders"`
	// Deployed is set from the first Acquire that may deploy until an
	// undeploy finishes: the model may be deployed and billing.
	Deployed bool `json:"deployed"`
	// DeployedBy is the holder that marked the model deployed, and DeployedAt when.
	DeployedBy string    `json:"deployed_by,omitempty"`
	DeployedAt time.Time `json:"deployed_at,omitzero"`
	// LastReleased is when the last holder left.
	LastReleased time.Time `json:"last_released,omitzero"`
	// Undeploy is the undeploy under way, if any.
	Undeploy *Claim `json:"undeploy,omitempty"`

	generation int64
}

// Claim is an undeploy someone has taken on.
type Claim struct {
	// By is the holder (or SweeperHolder) that undeploys.
	By string `json:"by"`
	// Op is the backend's undeploy operation, once started ("" before).
	Op    string    `json:"op,omitempty"`
	Since time.Time `json:"since"`
}

// SweeperHolder names the sweeper when it claims an undeploy.
const SweeperHolder = "sweeper"

// Holder is the holder name of a run epoch: RUNID-eN.
func Holder(runID string, epoch int) string { return runID + "-e" + strconv.Itoa(epoch) }

// ParseHolder splits a holder name made by Holder.
func ParseHolder(h string) (runID string, epoch int, err error) {
	i := strings.LastIndex(h, "-e")
	if i <= 0 {
		return "", 0, fmt.Errorf("holds: holder %q is not RUNID-eN", h)
	}
	epoch, err = strconv.Atoi(h[i+2:])
	if err != nil || epoch < 1 {
		return "", 0, fmt.Errorf("holds: holder %q is not RUNID-eN", h)
	}
	return h[:i], epoch, nil
}
