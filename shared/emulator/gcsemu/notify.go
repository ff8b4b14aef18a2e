package gcsemu

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
)

// notifier publishes Cloud Storage Pub/Sub notifications for one bucket, as
// a notification configuration with event type OBJECT_FINALIZE and payload
// format JSON_API_V1 does
// (https://cloud.google.com/storage/docs/pubsub-notifications): the
// attributes name the event and the object, and the payload is the object's
// JSON API resource, the one the write answered with.
type notifier struct {
	bucket string
	config string // notificationConfig: projects/_/buckets/BUCKET/notificationConfigs/1
	pub    *pubsub.Publisher
	client *pubsub.Client
}

func newNotifier(n *Notification, client *pubsub.Client) *notifier {
	return &notifier{
		bucket: n.Bucket,
		config: "projects/_/buckets/" + n.Bucket + "/notificationConfigs/1",
		pub:    client.Publisher(n.Topic),
		client: client,
	}
}

// finalized publishes the notification for the object resource (or rewrite
// response) body, when it is an object of the notified bucket.
func (n *notifier) finalized(body []byte) {
	var resp struct {
		Kind       string          `json:"kind"`
		Bucket     string          `json:"bucket"`
		Name       string          `json:"name"`
		Generation string          `json:"generation"`
		Resource   json.RawMessage `json:"resource"` // rewrite responses
	}
	if json.Unmarshal(body, &resp) != nil {
		return
	}
	if resp.Kind == "storage#rewriteResponse" && len(resp.Resource) > 0 {
		n.finalized(resp.Resource)
		return
	}
	if resp.Kind != "storage#object" || resp.Bucket != n.bucket {
		return
	}
	attrs := map[string]string{
		"notificationConfig": n.config,
		"eventType":          "OBJECT_FINALIZE",
		"payloadFormat":      "JSON_API_V1",
		"bucketId":           resp.Bucket,
		"objectId":           resp.Name,
		"objectGeneration":   resp.Generation,
		"eventTime":          time.Now().UTC().Format(time.RFC3339Nano),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	payload := []byte(strings.TrimSpace(string(body)))
	// A notification that cannot be published is lost, as one can be in
	// production; dropcast's sweep starts the runs of lost files.
	n.pub.Publish(ctx, &pubsub.Message{Data: payload, Attributes: attrs}).Get(ctx)
}

func (n *notifier) close() {
	n.pub.Stop()
	n.client.Close()
}
