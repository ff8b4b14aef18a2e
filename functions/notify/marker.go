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

// The marker gs://STATE_BUCKET/notified/RUN-eEPOCH-TYPE says that an
// outcome reached every configured destination. It is written only after
// they all accepted it, so an instance that dies, or a webhook that fails,
// before that leaves no marker, and the next delivery of the outcome posts
// it (at least once); a delivery that finds the marker posts nothing
// (duplicates are rare: two deliveries racing between the check and the
// write both post, harmlessly).

// markerName is ev's marker object.
func markerName(ev events.Event) string {
	return fmt.Sprintf("notified/%s-e%d-%s", ev.RunID, ev.Epoch, ev.Type)
}

// notified reports whether ev's outcome was posted already.
func notified(ctx context.Context, gcs *storage.Client, bucket string, ev events.Event) (bool, error) {
	_, err := gcs.Bucket(bucket).Object(markerName(ev)).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", markerName(ev), err)
	}
	return true, nil
}

// markNotified records that ev's outcome was posted, naming the message
// (messageID) that posted it. The write is conditional on the marker not
// existing (ifGenerationMatch=0), so notify needs storage.objects.create only
// and never overwrites a marker. A 412 means the marker exists: either this
// very write landed and the client's retry met it (its answer was lost), or
// another delivery posted the same outcome meanwhile. Both mean the outcome
// was posted, which is all the marker says, so 412 is success.
func markNotified(ctx context.Context, gcs *storage.Client, bucket string, ev events.Event, messageID string) error {
	w := gcs.Bucket(bucket).Object(markerName(ev)).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, messageID+" "+ev.Time.Format(time.RFC3339Nano))
	err := w.Close()
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", markerName(ev), err)
	}
	return nil
}
