package holds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/predictor"
)

// errNoChange ends an update that would write nothing new.
var errNoChange = errors.New("no change")

// Acquire makes holder a holder of model (again: it is idempotent) and
// returns the record. Unless an undeploy is under way (r.Undeploy != nil:
// wait for it, see Settle, and acquire again), the model is marked deployed,
// so the caller may deploy it.
func (s *Store) Acquire(ctx context.Context, backend, model, holder string) (*Record, error) {
	r, err := s.update(ctx, backend, model, func(r *Record) error {
		_, held := r.Holders[holder]
		mark := r.Undeploy == nil && !r.Deployed
		if held && !mark {
			return errNoChange
		}
		now := s.now()
		if !held {
			r.Holders[holder] = now
		}
		if mark {
			r.Deployed, r.DeployedBy, r.DeployedAt = true, holder, now
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return r, nil
	}
	return r, err
}

// Release drops holder's hold (idempotent). It reports whether holder must
// undeploy the model: it was the last holder of a deployed model, and the
// undeploy is now claimed in its name (a retried Release after such a claim
// reports true again).
func (s *Store) Release(ctx context.Context, backend, model, holder string) (undeploy bool, err error) {
	r, err := s.update(ctx, backend, model, func(r *Record) error {
		_, held := r.Holders[holder]
		if !held {
			return errNoChange
		}
		delete(r.Holders, holder)
		if len(r.Holders) == 0 {
			r.LastReleased = s.now()
			if r.Deployed && r.Undeploy == nil {
				r.Undeploy = &Claim{By: holder, Since: r.LastReleased}
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return false, err
	}
	return r.Undeploy != nil && r.Undeploy.By == holder, nil
}

// SetUndeployOp records the operation of the undeploy by claims.
func (s *Store) SetUndeployOp(ctx context.Context, backend, model, by, op string) error {
	_, err := s.update(ctx, backend, model, func(r *Record) error {
		if r.Undeploy == nil || r.Undeploy.By != by {
			return errNoChange
		}
		r.Undeploy.Op = op
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// FinishUndeploy ends the undeploy claimed by by. When undeployed, the model
// is no longer deployed; when the undeploy failed, it still is, and the
// sweeper will try again if nobody holds it. Holders that arrived meanwhile
// (and waited) may now deploy it.
func (s *Store) FinishUndeploy(ctx context.Context, backend, model, by string, undeployed bool) error {
	_, err := s.update(ctx, backend, model, func(r *Record) error {
		if r.Undeploy == nil || r.Undeploy.By != by {
			return errNoChange
		}
		r.Undeploy = nil
		if undeployed {
			r.Deployed, r.DeployedBy, r.DeployedAt = false, "", time.Time{}
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// Settle helps an undeploy under way on model to its end: it polls the
// claim's operation once and, when it is done, finishes the claim. It
// reports whether no undeploy is under way any more. A claim without an
// operation is its claimant's to finish (or the sweeper's, once the
// claimant is dead).
func (s *Store) Settle(ctx context.Context, b predictor.Backend, backend, model string) (bool, error) {
	r, err := s.Get(ctx, backend, model)
	if err != nil {
		return false, err
	}
	c := r.Undeploy
	if c == nil {
		return true, nil
	}
	if c.Op == "" {
		return false, nil
	}
	done, opErr := b.PollOperation(ctx, c.Op)
	if !done {
		if opErr != nil {
			return false, fmt.Errorf("holds: poll undeploy %s of %s: %w", c.Op, model, opErr)
		}
		return false, nil
	}
	if opErr == nil {
		// A model deployed twice (two racing deploys) needs one undeploy each.
		next, err := b.Undeploy(ctx, model)
		if err != nil {
			return false, fmt.Errorf("holds: undeploy %s again: %w", model, err)
		}
		if next != "" {
			return false, s.SetUndeployOp(ctx, backend, model, c.By, next)
		}
	}
	if err := s.FinishUndeploy(ctx, backend, model, c.By, opErr == nil); err != nil {
		return false, err
	}
	return true, nil
}
