package holds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
)

// Backends returns the prediction backend of a name (vertex, automl);
// app.App.Predictor is one.
type Backends func(ctx context.Context, name string) (predictor.Backend, error)

// Live reports whether holder's run epoch is still running, reading run
// records from runs. A record it cannot read counts as live: the sweeper
// must never undeploy under a run it is unsure of.
func Live(ctx context.Context, runs *run.Store) func(holder string) bool {
	return func(holder string) bool {
		id, epoch, err := ParseHolder(holder)
		if err != nil {
			return false
		}
		r, err := runs.Get(ctx, id)
		if errors.Is(err, run.ErrNotFound) {
			return false
		}
		if err != nil {
			return true
		}
		return !r.Terminal() && r.Epoch == epoch
	}
}

// Sweep tidies every model record, for the sweeper: it drops holders whose
// run is no longer live, finishes undeploys whose operation is done, takes
// over undeploys whose claimant died before starting them, and undeploys
// models deployed with no holder for longer than grace. It returns the
// models (backend:model) whose undeploy it started, and the errors it met,
// joined (one model's error does not stop the others).
func Sweep(ctx context.Context, s *Store, backends Backends, live func(holder string) bool, grace time.Duration) (undeployed []string, err error) {
	recs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, r := range recs {
		started, err := s.sweepOne(ctx, r, backends, live, grace)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Backend, r.Model, err))
		}
		if started {
			undeployed = append(undeployed, r.Backend+":"+r.Model)
		}
	}
	return undeployed, errors.Join(errs...)
}

func (s *Store) sweepOne(ctx context.Context, r *Record, backends Backends, live func(string) bool, grace time.Duration) (bool, error) {
	backend, model := r.Backend, r.Model
	var dead []string
	for h := range r.Holders {
		if !live(h) {
			dead = append(dead, h)
		}
	}
	if len(dead) > 0 {
		var err error
		r, err = s.update(ctx, backend, model, func(r *Record) error {
			for _, h := range dead {
				delete(r.Holders, h)
			}
			if len(r.Holders) == 0 && r.LastReleased.IsZero() {
				r.LastReleased = s.now()
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	b, err := backends(ctx, backend)
	if err != nil {
		return false, err
	}
	if c := r.Undeploy; c != nil {
		if c.Op != "" {
			_, err := s.Settle(ctx, b, backend, model)
			return false, err
		}
		if live(c.By) {
			return false, nil // its claimant is about to start it
		}
		if len(r.Holders) > 0 {
			// The claimant died before undeploying and new holders wait: let them on.
			return false, s.FinishUndeploy(ctx, backend, model, c.By, false)
		}
		return s.undeploy(ctx, b, backend, model, c.By)
	}
	if len(r.Holders) > 0 || !r.Deployed || s.now().Sub(r.LastReleased) < grace {
		return false, nil
	}
	return s.undeploy(ctx, b, backend, model, "")
}

// undeploy claims model's undeploy for the sweeper (taking it over from
// from, or from nobody) while it still has no holder, and starts it.
func (s *Store) undeploy(ctx context.Context, b predictor.Backend, backend, model, from string) (bool, error) {
	_, err := s.update(ctx, backend, model, func(r *Record) error {
		switch {
		case len(r.Holders) > 0:
			return errNoChange
		case from == "" && (r.Undeploy != nil || !r.Deployed):
			return errNoChange
		case from != "" && (r.Undeploy == nil || r.Undeploy.By != from || r.Undeploy.Op != ""):
			return errNoChange
		}
		r.Undeploy = &Claim{By: SweeperHolder, Since: s.now()}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	op, err := b.Undeploy(ctx, model)
	if err != nil {
		return false, fmt.Errorf("undeploy: %w", err)
	}
	if op == "" {
		return true, s.FinishUndeploy(ctx, backend, model, SweeperHolder, true)
	}
	return true, s.SetUndeployOp(ctx, backend, model, SweeperHolder, op)
}
