package dropcast

import (
	_ "cloud.google.com/go/aiplatform/apiv1"
	_ "cloud.google.com/go/automl/apiv1beta1"
	_ "cloud.google.com/go/bigquery"
	_ "cloud.google.com/go/cloudtasks/apiv2"
	_ "cloud.google.com/go/longrunning/autogen"
	_ "cloud.google.com/go/pubsub/v2"
	_ "cloud.google.com/go/pubsub/v2/pstest"
	_ "cloud.google.com/go/storage"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	_ "github.com/fsouza/fake-gcs-server/fakestorage"
	_ "github.com/hashicorp/hcl/v2/hclparse"
	_ "gopkg.in/yaml.v3"
	_ "golang.org/x/text/encoding/japanese"
	_ "github.com/cloudevents/sdk-go/v2/event"
)
