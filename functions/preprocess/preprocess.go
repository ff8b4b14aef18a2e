// Package preprocess is the step that streams the uploaded CSV from Cloud
// Storage, cleans it by the spec's schema and rules, and writes clean parts
// and rejects to the work bucket, checkpointing at record boundaries so a file
// of any size finishes across as many invocations as it needs.
package preprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/storage"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/clean"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.HTTP("preprocess", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// PartBytes is the clean output one part holds before the next part starts.
const PartBytes = 256 << 20

// Upload buffers of the Cloud Storage writers. Each writer allocates one
// buffer of its ChunkSize for the whole upload: "Each Writer will internally
// allocate a buffer of size ChunkSize. This is used to buffer input data and
// allow for the input to be sent again if a request must be retried"; "The
// default ChunkSize is 16MiB" (https://pkg.go.dev/cloud.google.com/go/storage#Writer).
// Every invocation opens a clean and a rejects writer, so with the default
// the step allocated 32 MiB of buffers per segment, ten times what the
// cleaning allocates: the garbage of consecutive segments set the heap's
// size, and the peak resident memory of an instance serving segment after
// segment. A quarter of the default for clean parts (as postprocess's result
// parts) still sends a part of PartBytes in 64 requests; rejects are a
// fraction of the rows (the reject threshold), so a smaller buffer suffices.
const (
	cleanChunkSize   = 4 << 20
	rejectsChunkSize = 1 << 20
)

// Step is the preprocess step.
type Step struct {
	gcs        *storage.Client
	workBucket string
	partBytes  int64
}

// New returns the step.
func New(a *app.App) *Step {
	return &Step{gcs: a.Clients.Storage, workBucket: a.Config.WorkBucket, partBytes: PartBytes}
}

// Name is the step's name.
func (s *Step) Name() string { return run.Preprocess }

// Checkpoint is preprocess's saved position.
type Checkpoint struct {
	clean.Checkpoint
	// Parts is how many clean parts (and rejects parts) are complete.
	Parts int `json:"parts"`
}

// Run cleans from the last checkpoint until the file ends or the budget does.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	src := x.Run.Source
	c, err := clean.New(&x.Pipeline.Schema, src.Object)
	if err != nil {
		return kernel.Failed(fmt.Errorf("spec %s: %w", x.Pipeline.Name, err)), nil
	}
	// Pin the generation: a newer upload of the same name is a different run.
	obj := s.gcs.Bucket(src.Bucket).Object(src.Object).Generation(src.Generation)
	open := func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		r, err := obj.NewRangeReader(ctx, offset, -1)
		if err != nil {
			return nil, fmt.Errorf("read %s at %d: %w", src.URI(), offset, err)
		}
		return r, nil
	}
	prefix := x.Run.WorkPrefix()
	for !cp.Done {
		if !time.Now().Before(x.Deadline) {
			return kernel.Continue(cp), nil
		}
		next, err := s.part(ctx, c, open, cp, prefix, x.Deadline)
		var fe *clean.FileError
		if errors.As(err, &fe) {
			return kernel.Failed(err), nil
		}
		if errors.Is(err, storage.ErrObjectNotExist) {
			// The generation this run was started for is gone: replaced by
			// a newer upload (whose own run processes it) or deleted.
			if sup := run.CheckSuperseded(ctx, s.gcs, src); sup != nil {
				return kernel.Failed(sup), nil
			}
			return kernel.Failed(fmt.Errorf("%s (generation %d) no longer exists: %w", src.URI(), src.Generation, err)), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp = next
		if max := x.Pipeline.Rejects.MaxRows; max > 0 && cp.RowsRejected > max {
			// Past max_rows no later row can save the file: stop now.
			return kernel.Failed(c.CheckThreshold(cp.Checkpoint)), nil
		}
		x.SetCounter(run.RowsIn, cp.RowsIn)
		x.SetCounter(run.RowsClean, cp.RowsClean)
		x.SetCounter(run.RowsRejected, cp.RowsRejected)
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	x.SetOutput("clean", "gs://"+s.workBucket+"/"+prefix+"clean/")
	if cp.RowsRejected > 0 {
		x.SetOutput("rejects", "gs://"+s.workBucket+"/"+prefix+"rejects/")
	}
	if err := c.CheckThreshold(cp.Checkpoint); err != nil {
		return kernel.Failed(err), nil
	}
	if cp.RowsClean == 0 {
		return kernel.Failed(fmt.Errorf("%s: no clean rows to load", src.Object)), nil
	}
	return kernel.Done(), nil
}

// part writes clean part number cp.Parts (and its rejects) from cp until the
// input ends, the part is full or the deadline passes. Part names are
// deterministic, so a retried part overwrites the same objects.
func (s *Step) part(ctx context.Context, c *clean.Cleaner, open clean.Opener, cp Checkpoint, prefix string, deadline time.Time) (Checkpoint, error) {
	name := fmt.Sprintf("part-%05d.csv", cp.Parts)
	bucket := s.gcs.Bucket(s.workBucket)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a writer not closed by the end is abandoned: nothing is stored
	out := newCountingWriter(bucket.Object(prefix+"clean/"+name).NewWriter(ctx), "text/csv", cleanChunkSize)
	rej := newCountingWriter(bucket.Object(prefix+"rejects/"+name).NewWriter(ctx), "text/csv", rejectsChunkSize)
	stop := func() bool { return out.n >= s.partBytes || !time.Now().Before(deadline) }
	next, err := c.Segment(ctx, open, cp.Checkpoint, out, rej, stop)
	if err != nil {
		return cp, err
	}
	if err := out.w.Close(); err != nil {
		return cp, fmt.Errorf("write clean %s: %w", name, err)
	}
	if err := rej.w.Close(); err != nil {
		return cp, fmt.Errorf("write rejects %s: %w", name, err)
	}
	return Checkpoint{Checkpoint: next, Parts: cp.Parts + 1}, nil
}

// countingWriter counts the bytes written to a Cloud Storage writer.
type countingWriter struct {
	w *storage.Writer
	n int64
}

func newCountingWriter(w *storage.Writer, contentType string, chunkSize int) *countingWriter {
	w.ContentType = contentType
	w.ChunkSize = chunkSize
	return &countingWriter{w: w}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
