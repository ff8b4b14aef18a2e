package pubsubemu

import (
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// storageTypes maps a Cloud Storage notification's eventType to the type of
// the CloudEvent an Eventarc Cloud Storage trigger delivers
// (google/events/cloud/storage/v1/events.proto).
var storageTypes = map[string]string{
	"OBJECT_FINALIZE":        "google.cloud.storage.object.v1.finalized",
	"OBJECT_DELETE":          "google.cloud.storage.object.v1.deleted",
	"OBJECT_ARCHIVE":         "google.cloud.storage.object.v1.archived",
	"OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
}

// StorageEvent turns a Cloud Storage Pub/Sub notification (payload format
// JSON_API_V1) into the CloudEvent Eventarc delivers for it: ce-type from the
// event type, ce-source //storage.googleapis.com/projects/_/buckets/BUCKET,
// ce-subject objects/NAME, and the object resource (StorageObjectData, its
// int64 fields as JSON strings) as data.
func StorageEvent(m *pubsub.Message) (event.Event, error) {
	e := event.New()
	a := m.Attributes
	typ, ok := storageTypes[a["eventType"]]
	if !ok {
		return e, fmt.Errorf("pubsubemu: message %s is not a Cloud Storage notification (eventType %q)", m.ID, a["eventType"])
	}
	if a["payloadFormat"] != "JSON_API_V1" || !json.Valid(m.Data) {
		return e, fmt.Errorf("pubsubemu: notification %s has no JSON_API_V1 payload", m.ID)
	}
	e.SetID(m.ID)
	e.SetType(typ)
	e.SetSource("//storage.googleapis.com/projects/_/buckets/" + a["bucketId"])
	e.SetSubject("objects/" + a["objectId"])
	t := m.PublishTime
	if et, err := time.Parse(time.RFC3339Nano, a["eventTime"]); err == nil {
		t = et
	}
	e.SetTime(t)
	if err := e.SetData("application/json", m.Data); err != nil {
		return e, fmt.Errorf("pubsubemu: set event data: %w", err)
	}
	return e, nil
}
