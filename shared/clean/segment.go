package clean

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opener returns the RAW object bytes starting at byte offset (the step uses
// a GCS range read).
type Opener func(ctx context.Context, offset int64) (io.ReadCloser, error)

// Checkpoint is where a segment stopped and what it has counted so far.
type Checkpoint struct {
	// Offset is the source byte offset of the next record (for gzip: the
	// offset in the decompressed stream; resuming re-reads from 0 and skips).
	Offset int64
	// Line is the source line number of the next record.
	Line int64
	// Header is the source header as read, so a resumed segment need not re-read it.
	Header []string `json:",omitempty"`
	// Gzip says the object is gzip-compressed (known after the first segment).
	Gzip                            bool `json:",omitempty"`
	RowsIn, RowsClean, RowsRejected int64
	Done                            bool
}

// Segment cleans from cp until the input ends or stop returns true (asked
// every StopEvery records, at record boundaries), writing clean rows (after a
// header line) to out and rejects (after a header line) to rejects. It
// returns the checkpoint to resume from; with Done set, the file is finished.
//
// Parts written by segments that resume from each other's checkpoints hold,
// after their header lines, exactly the data lines of one unsegmented run.
// On an error the parts must be discarded and the input checkpoint is
// returned; errors other than *FileError (reads, writes, ctx) may be
// transient and worth a retry. Segment does not judge the reject threshold:
// call CheckThreshold with the final checkpoint (or between segments, to
// fail early on max_rows).
func (c *Cleaner) Segment(ctx context.Context, open Opener, cp Checkpoint, out, rejects io.Writer, stop func() bool) (Checkpoint, error) {
	if cp.Done {
		return cp, nil
	}
	start := cp
	if cp.Line == 0 {
		cp.Line = 1
	}
	if cp.Offset > 0 && c.header && cp.Header == nil {
		return start, fmt.Errorf("%s: checkpoint at byte %d has no header", c.file, cp.Offset)
	}
	src, err := c.openSource(ctx, open, cp)
	if err != nil {
		return start, err
	}
	defer src.closer.Close()
	cp.Gzip = src.gzip
	rc := &rowCleaner{
		c:   c,
		sc:  newScanner(src.r, src.offset, cp.Line, c.delim, c.quote, readBuffer, c.maxRecord),
		dec: newTextDecoder(c.sjis),
		out: csvWriter{w: out, name: "clean output", buf: make([]byte, 0, flushAt+64<<10)},
		rej: csvWriter{w: rejects, name: "rejects", buf: make([]byte, 0, 16<<10)},
	}
	rc.out.buf = append(rc.out.buf, c.outHeader...)
	rc.rej.buf = append(rc.rej.buf, "line,column,reason,record\n"...)
	if rc.m, err = c.startMapping(rc, &cp); err != nil {
		return start, c.readError(err, rc.sc, src)
	}
	every := c.StopEvery
	if every <= 0 {
		every = DefaultStopEvery
	}
	for n := 0; ; n++ { // n records read by this segment: at least every before stopping
		if n > 0 && n%every == 0 {
			if err := ctx.Err(); err != nil {
				return start, fmt.Errorf("clean %s: %w", c.file, err)
			}
			if stop != nil && stop() {
				cp.Offset, cp.Line = rc.sc.pos(), rc.sc.nextLine
				return c.finish(rc, cp, nil)
			}
		}
		ok, err := rc.sc.next()
		if err != nil {
			return start, c.readError(err, rc.sc, src)
		}
		if !ok {
			break
		}
		// A record whose quote never closes swallowed every line to the end
		// of the file: each of them counts as a rejected row.
		rows := int64(1)
		if rc.sc.unterminated {
			rows = rc.sc.nextLine - rc.sc.line
		}
		cp.RowsIn += rows
		if rc.row() {
			cp.RowsClean++
		} else {
			cp.RowsRejected += rows
		}
		if err := rc.out.flushIfFull(); err != nil {
			return start, err
		}
		if err := rc.rej.flushIfFull(); err != nil {
			return start, err
		}
	}
	cp.Offset, cp.Line, cp.Done = rc.sc.pos(), rc.sc.nextLine, true
	return c.finish(rc, cp, nil)
}

// finish flushes both outputs and returns cp with err.
func (c *Cleaner) finish(rc *rowCleaner, cp Checkpoint, err error) (Checkpoint, error) {
	if ferr := rc.out.flush(); ferr != nil {
		return cp, ferr
	}
	if ferr := rc.rej.flush(); ferr != nil {
		return cp, ferr
	}
	return cp, err
}

// startMapping reads the header on a fresh start (recording it in cp) or
// rebuilds the mapping from cp.Header.
func (c *Cleaner) startMapping(rc *rowCleaner, cp *Checkpoint) (*mapping, error) {
	if !c.header {
		if cp.Offset == 0 {
			if err := c.checkNotEmpty(rc.sc); err != nil {
				return nil, err
			}
		}
		return c.positional(), nil
	}
	if cp.Offset > 0 {
		return c.mapHeader(cp.Header, 1)
	}
	sc := rc.sc
	ok, err := sc.next()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &FileError{File: c.file, Line: 1, Reason: "empty file"}
	}
	switch {
	case sc.unterminated:
		return nil, &FileError{File: c.file, Line: sc.line, Reason: "header: " + reasonUnterminated + " (its quote never closes, so the header runs to the end of the file)"}
	case sc.oversize:
		return nil, &FileError{File: c.file, Line: sc.line, Reason: fmt.Sprintf("header: longer than %d bytes (not a CSV file?)", c.maxRecord)}
	case containsNUL(sc.raw):
		return nil, &FileError{File: c.file, Line: sc.line, Reason: "binary file: the header has NUL bytes"}
	case !c.sjis && !utf8.Valid(sc.raw):
		return nil, &FileError{File: c.file, Line: sc.line, Reason: "header: not valid UTF-8 (if the file is Shift_JIS, set input.encoding: shift_jis)"}
	}
	names := make([]string, len(sc.fields))
	for i, f := range sc.fields {
		v, ok := rc.dec.field(f)
		if !ok {
			return nil, &FileError{File: c.file, Line: sc.line, Reason: "header: not valid Shift_JIS"}
		}
		names[i] = string(v)
	}
	cp.Header = names
	cp.Offset, cp.Line = sc.pos(), sc.nextLine
	return c.mapHeader(names, sc.line)
}

// checkNotEmpty fails a header-less file with no records.
func (c *Cleaner) checkNotEmpty(sc *scanner) error {
	if err := sc.more(); err != nil && !errors.Is(err, errTooLong) {
		return err
	}
	if sc.w == sc.r {
		return &FileError{File: c.file, Line: 1, Reason: "empty file"}
	}
	return nil
}

// readError turns scanner errors into *FileErrors where the file is at fault.
func (c *Cleaner) readError(err error, sc *scanner, src *source) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return err
	case src.gzip && isGzipError(err):
		return c.gzipError(err, sc.line)
	}
	return fmt.Errorf("clean %s: %w", c.file, err)
}

func containsNUL(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// isGzipError reports a decompression failure (as opposed to a read failure).
func isGzipError(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)
}
