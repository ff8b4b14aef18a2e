package postprocess

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/predictor"
)

// joinError is a permanent problem shaping predictions into results.
type joinError struct{ msg string }

func (e *joinError) Error() string { return e.msg }

// partChunkSize is the upload buffer of a result part: a quarter of the
// client's 16 MiB default, since the buffers of consecutive parts can be
// live at once, and the step's memory is mostly these buffers.
const partChunkSize = 4 << 20

// writePart shapes the rows of one predictions file of out into the result
// part dst, in the file's order, starting with the header when header is
// set. Each result row comes from its prediction row alone: the file holds
// the row's input values next to its prediction. It returns the rows
// written; dst is only stored when every row is.
func writePart(ctx context.Context, b predictor.Backend, out predictor.Output, file string, dst *storage.ObjectHandle, l *Layout, meta metadata, header bool) (int64, error) {
	in, err := b.OpenOutput(ctx, out, file)
	if err != nil {
		return 0, fmt.Errorf("read predictions: %w", err)
	}
	defer in.Close()
	if l.scoresAll {
		for _, c := range in.Classes() {
			if !slices.Contains(l.classes, c) {
				return 0, &joinError{fmt.Sprintf("%s has class %q, which results with classes %q have no column for", file, c, l.classes)}
			}
		}
	}
	rows, err := l.builder(out.Input, meta)
	if err != nil {
		return 0, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the part on any early return
	w := dst.NewWriter(ctx)
	w.ContentType = "text/csv"
	w.ChunkSize = partChunkSize
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write(l.Header()); err != nil {
			return 0, fmt.Errorf("write %s: %w", dst.ObjectName(), err)
		}
	}
	var n int64
	for {
		row, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read predictions: %w", err)
		}
		if _, err := strconv.ParseInt(row.RowKey, 10, 64); err != nil {
			return 0, &joinError{fmt.Sprintf("%s: row key %q is not a line number", file, row.RowKey)}
		}
		if err := cw.Write(rows.build(row)); err != nil {
			return 0, fmt.Errorf("write %s: %w", dst.ObjectName(), err)
		}
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("write %s: %w", dst.ObjectName(), err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", dst.ObjectName(), err)
	}
	return n, nil
}
