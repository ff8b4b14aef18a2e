package predict

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/batching"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
)

// Progress is how far online prediction got, saved after every batch.
type Progress struct {
	// Part indexes the clean parts in name order; Offset is the byte offset
	// in it of the next row to predict (0: the first, after the header).
	Part   int   `json:"part,omitempty"`
	Offset int64 `json:"offset,omitempty"`
	// OutPart is how many output files are written (file numbers 1..OutPart).
	OutPart   int            `json:"out_part,omitempty"`
	Rows      int64          `json:"rows,omitempty"`
	Calls     int64          `json:"calls,omitempty"`
	Throttles int64          `json:"throttles,omitempty"`
	Batch     batching.State `json:"batch,omitzero"`
}

// stopReason is why a loop stopped before predicting everything.
type stopReason int

const (
	finished  stopReason = iota // every part predicted
	outOfTime                   // the budget ran out
	throttled                   // a quota back-off longer than the budget left
)

// loop streams clean parts through online Predict calls. It holds at most
// one batch of rows at a time.
type loop struct {
	backend  predictor.Backend
	gcs      *storage.Client
	model    string
	bucket   string
	parts    []string // object names of the clean parts, in order
	outDir   string   // gs:// directory for WriteOutput
	target   string   // the model's target column, if the spec names it
	sizer    *batching.Sizer
	deadline time.Time
	// save commits progress after a batch written, at most once per
	// saveEvery (Cloud Storage takes about one write a second to one
	// object, the run record); the loop stops on its error. Progress past
	// the last save is redone after a crash: its output files are rewritten,
	// and postprocess reads only the files 1..OutPart the finished step
	// records (predictor.CounterOutputFiles), so no row is read twice.
	save      func(ctx context.Context, p Progress) error
	saveEvery time.Duration
	lastSave  time.Time
}

// run predicts from p until every part is done, the deadline passes or a
// quota back-off would outlast it (the wait is returned).
func (l *loop) run(ctx context.Context, p *Progress) (stopReason, time.Duration, error) {
	for p.Part < len(l.parts) {
		why, wait, err := l.part(ctx, p)
		if err != nil || why != finished {
			return why, wait, err
		}
		p.Part, p.Offset = p.Part+1, 0
	}
	return finished, 0, nil
}

// part predicts the rest of part p.Part.
func (l *loop) part(ctx context.Context, p *Progress) (stopReason, time.Duration, error) {
	obj := l.gcs.Bucket(l.bucket).Object(l.parts[p.Part])
	uri := "gs://" + l.bucket + "/" + l.parts[p.Part]
	rd, err := obj.NewReader(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", uri, err)
	}
	defer func() { rd.Close() }()
	cr := csv.NewReader(rd)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return 0, 0, fmt.Errorf("read header of %s: %w", uri, err)
	}
	base := int64(0)
	if p.Offset > cr.InputOffset() {
		rd.Close()
		if rd, err = obj.NewRangeReader(ctx, p.Offset, -1); err != nil {
			return 0, 0, fmt.Errorf("open %s at byte %d: %w", uri, p.Offset, err)
		}
		cr, base = csv.NewReader(rd), p.Offset
		cr.FieldsPerRecord = len(header)
	}
	var (
		rows [][]string
		ends []int64 // ends[i]: the byte offset after rows[i]
		eof  bool
	)
	for {
		for !eof && len(rows) < l.sizer.Size() {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return 0, 0, fmt.Errorf("read %s: %w", uri, err)
			}
			rows, ends = append(rows, rec), append(ends, base+cr.InputOffset())
		}
		if len(rows) == 0 {
			return finished, 0, nil
		}
		left := time.Until(l.deadline)
		if left <= 0 {
			return outOfTime, 0, nil
		}
		n := min(l.sizer.Size(), len(rows))
		start := time.Now()
		preds, err := l.backend.Predict(ctx, l.model, header, rows[:n])
		if errors.Is(err, predictor.ErrQuota) {
			wait := l.sizer.Throttled()
			p.Throttles++
			p.Batch = l.sizer.State()
			if wait >= time.Until(l.deadline) {
				return throttled, wait, nil
			}
			if err := sleep(ctx, wait); err != nil {
				return 0, 0, err
			}
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("predict %d rows of %s: %w", n, uri, err)
		}
		l.sizer.Observe(n, time.Since(start))
		out := predictor.Output{Dir: l.outDir, Input: header, Target: l.target}
		if err := l.backend.WriteOutput(ctx, out, p.OutPart+1, rows[:n], preds); err != nil {
			return 0, 0, fmt.Errorf("write predictions of %s: %w", uri, err)
		}
		p.OutPart++
		p.Offset = ends[n-1]
		p.Rows += int64(n)
		p.Calls++
		p.Batch = l.sizer.State()
		if time.Since(l.lastSave) >= l.saveEvery {
			if err := l.save(ctx, *p); err != nil {
				return 0, 0, err
			}
			l.lastSave = time.Now()
		}
		rows, ends = slices.Delete(rows, 0, n), slices.Delete(ends, 0, n)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cleanParts lists the clean parts under prefix (…/clean/part-*.csv) in name order.
func cleanParts(ctx context.Context, gcs *storage.Client, bucket, prefix string) ([]string, error) {
	_, parts, err := gcsuri.Expand(ctx, gcs, "gs://"+bucket+"/"+prefix+"part-*.csv")
	return parts, err
}
