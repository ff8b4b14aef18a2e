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

	"github.com/dropcast/dropcast/shared/schema"
)

// joinError is a permanent problem joining predictions to rows.
type joinError struct{ msg string }

func (e *joinError) Error() string { return e.msg }

// joinPart joins the rows of one clean part to their predictions and writes
// them as the result part out, starting with the header when header is set.
// Rows without a prediction (the service reported them in its errors files)
// are left out. It returns the rows written; out is only stored when every
// row is.
func joinPart(ctx context.Context, clean, out *storage.ObjectHandle, l *Layout, ix *index, meta metadata, header bool) (int64, error) {
	r, err := clean.NewReader(ctx)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", clean.ObjectName(), err)
	}
	defer r.Close()
	in := csv.NewReader(r)
	in.ReuseRecord = true
	head, err := in.Read()
	if err != nil {
		return 0, fmt.Errorf("read %s header: %w", clean.ObjectName(), err)
	}
	key := slices.Index(head, schema.RowKeyColumn)
	if key < 0 {
		return 0, &joinError{fmt.Sprintf("%s has no %s column", clean.ObjectName(), schema.RowKeyColumn)}
	}
	rows, err := l.builder(head, meta)
	if err != nil {
		return 0, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the part on any early return
	w := out.NewWriter(ctx)
	w.ContentType = "text/csv"
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write(l.Header()); err != nil {
			return 0, fmt.Errorf("write %s: %w", out.ObjectName(), err)
		}
	}
	var n int64
	for {
		rec, err := in.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", clean.ObjectName(), err)
		}
		k, err := strconv.ParseInt(rec[key], 10, 64)
		if err != nil {
			return 0, &joinError{fmt.Sprintf("%s: row key %q is not a line number", clean.ObjectName(), rec[key])}
		}
		p, ok := ix.rows[k]
		if !ok {
			continue
		}
		if err := cw.Write(rows.build(rec, rec[key], &p)); err != nil {
			return 0, fmt.Errorf("write %s: %w", out.ObjectName(), err)
		}
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("write %s: %w", out.ObjectName(), err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", out.ObjectName(), err)
	}
	return n, nil
}
