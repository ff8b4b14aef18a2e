package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/dropcast/dropcast/shared/clean"
	"github.com/dropcast/dropcast/shared/schema"
	"gopkg.in/yaml.v3"
)

// Exit codes of dropcast clean.
const (
	exitPass      = 0 // the file passes
	exitThreshold = 1 // rejects exceed the spec's reject_threshold
	exitBad       = 2 // bad usage or spec, unreadable input or a file-level error
)

// cleanSpec is the part of a pipeline spec that clean reads: the schema,
// inline at the top level. The other pipeline sections may be present (or
// not: a cleaning-only spec is fine) and are not interpreted; any other key,
// such as a misspelt column rule, is an error.
type cleanSpec struct {
	Name          string `yaml:"name"`
	schema.Schema `yaml:",inline"`

	Match       string    `yaml:"match"`
	Destination yaml.Node `yaml:"destination"`
	Predict     yaml.Node `yaml:"predict"`
	Results     yaml.Node `yaml:"results"`
	Notify      yaml.Node `yaml:"notify"`
	Schedules   yaml.Node `yaml:"schedules"`
}

// cmdClean runs `dropcast clean --spec SPEC [-o OUT] [--rejects FILE] FILE`:
// the preprocess cleaner on a local file (FILE "-" is stdin).
func cmdClean(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", "", "pipeline spec `file` (YAML), required")
	outPath := fs.String("o", "", "write the clean CSV to `file` instead of stdout")
	rejPath := fs.String("rejects", "", "write rejected rows to `file` (default: count them only)")
	segRecords := fs.Int("segment-records", 0, "checkpoint and resume every `n` records, as the cloud step does (file input only)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast clean --spec SPEC [-o OUT] [--rejects FILE] FILE|-")
		fs.PrintDefaults()
	}
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitPass
			}
			return exitBad
		}
		if fs.NArg() == 0 {
			break
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if *specPath == "" || len(files) != 1 {
		fs.Usage()
		return exitBad
	}
	s, err := loadSpec(*specPath)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast clean: %v\n", err)
		return exitBad
	}
	job := cleanJob{file: files[0], stdin: stdin, segRecords: *segRecords}
	out, closeOut, err := create(*outPath, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast clean: %v\n", err)
		return exitBad
	}
	rejFile, closeRej, err := create(*rejPath, io.Discard)
	if err != nil {
		closeOut()
		fmt.Fprintf(stderr, "dropcast clean: %v\n", err)
		return exitBad
	}
	reasons := newReasonTally()
	rej := io.MultiWriter(rejFile, reasons)
	// The cleaner's live heap is a few buffers; a low GC target keeps the
	// process's peak RSS near its startup size at a negligible CPU cost.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	start := time.Now()
	cp, c, err := job.run(ctx, s, out, rej)
	if cerr := errors.Join(closeOut(), closeRej()); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = c.CheckThreshold(cp)
	}
	elapsed := time.Since(start)
	var te *clean.ThresholdError
	switch {
	case errors.As(err, &te):
		fmt.Fprintf(stderr, "dropcast clean: FAIL %v\n", err)
	case err != nil:
		fmt.Fprintf(stderr, "dropcast clean: %v\n", err)
		return exitBad
	}
	fmt.Fprintf(stderr, "%s: %d rows in, %d clean, %d rejected in %.2fs (%.1f MB/s)\n",
		job.file, cp.RowsIn, cp.RowsClean, cp.RowsRejected, elapsed.Seconds(),
		float64(job.bytes())/1e6/max(elapsed.Seconds(), 1e-9))
	if cp.RowsRejected > 0 {
		fmt.Fprint(stderr, reasons.summary(3))
	}
	if te != nil {
		return exitThreshold
	}
	return exitPass
}

// loadSpec reads and validates a pipeline spec's schema.
func loadSpec(path string) (*schema.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var spec cleanSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if ps := spec.Validate(); len(ps) > 0 {
		var b bytes.Buffer
		fmt.Fprintf(&b, "spec %s is invalid:", path)
		for _, p := range ps {
			fmt.Fprintf(&b, "\n  %s", p)
		}
		return nil, errors.New(b.String())
	}
	return &spec.Schema, nil
}

// create opens path for writing, or returns def when path is empty.
func create(path string, def io.Writer) (io.Writer, func() error, error) {
	if path == "" {
		return def, func() error { return nil }, nil
	}
	if path == "-" {
		return os.Stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create output: %w", err)
	}
	return f, f.Close, nil
}

// cleanJob cleans one local file or stdin, in one segment or several.
type cleanJob struct {
	file       string
	stdin      io.Reader
	segRecords int
	size       int64
}

// bytes is the input size when known (0 for stdin).
func (j *cleanJob) bytes() int64 { return j.size }

// open is the clean.Opener of the job's input.
func (j *cleanJob) open(_ context.Context, offset int64) (io.ReadCloser, error) {
	if j.file == "-" {
		if offset != 0 {
			return nil, errors.New("stdin cannot be re-read from an offset")
		}
		return io.NopCloser(j.stdin), nil
	}
	f, err := os.Open(j.file)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil {
		j.size = st.Size()
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// run cleans the input, writing one header line to out and to rej.
func (j *cleanJob) run(ctx context.Context, s *schema.Schema, out, rej io.Writer) (clean.Checkpoint, *clean.Cleaner, error) {
	var cp clean.Checkpoint
	c, err := clean.New(s, filepath.Base(j.file))
	if err != nil {
		return cp, nil, err
	}
	if j.segRecords <= 0 {
		cp, err = c.Segment(ctx, j.open, cp, out, rej, nil)
		return cp, c, err
	}
	if j.file == "-" {
		return cp, c, errors.New("--segment-records needs a file, not stdin")
	}
	c.StopEvery = j.segRecords
	stop := func() bool { return true }
	for first := true; !cp.Done; first = false {
		o, r := out, rej
		if !first {
			o, r = &skipLine{w: out}, &skipLine{w: rej}
		}
		if cp, err = c.Segment(ctx, j.open, cp, o, r, stop); err != nil {
			return cp, c, err
		}
	}
	return cp, c, nil
}

// skipLine drops the first line written through it (a later segment's header).
type skipLine struct {
	w    io.Writer
	done bool
}

func (s *skipLine) Write(p []byte) (int, error) {
	n := len(p)
	if !s.done {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		s.done, p = true, p[i+1:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, err := s.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
