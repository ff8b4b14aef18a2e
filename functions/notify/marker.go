package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/dropcast/dropcast/shared/events"
)

// claim creates the event's marker; false when it existed (a duplicate).
func claim(ctx context.Context, gcs *storage.Client, bucket string, ev events.Event) (bool, error) {
	name := fmt.Sprintf("notified/%s-e%d-%s", ev.RunID, ev.Epoch, ev.Type)
	w := gcs.Bucket(bucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, ev.Time.Format(time.RFC3339Nano))
	err := w.Close()
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("write %s: %w", name, err) // announce anyway: better twice than never
	}
	return true, nil
}
