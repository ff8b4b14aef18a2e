package localstack

import (
	"fmt"

	"github.com/dropcast/dropcast/infra"
	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/spec"
)

// Developer is the identity of the developer's own calls: provisioning (what
// Terraform does), the command line and tests. Like a project owner, it may
// do anything; every function calls as its own service account (Identity).
const Developer = "developer@dropcast.local"

// storageAgent is the project's Cloud Storage service agent, which publishes
// the inbox bucket's notifications.
const storageAgent = "service-" + Project + "@gs-project-accounts.iam.gserviceaccount.com"

// SourceBucket stands for the bucket Cloud Build reads function sources from
// (infra/storage.tf); the local stack has no builds, but iam.tf grants on it.
const SourceBucket = "dropcast-source"

// policy builds the IAM policy the emulators enforce: the grants of
// infra/iam.tf's local.sa_roles (or of iamTF, an edited copy) placed on the
// stack's resources — the place "dataset" on every dataset the specs name,
// as a deployment whose specs use several datasets must grant — and the
// Cloud Storage service agent's roles/pubsub.publisher
// (google_project_iam_member.gcs_agent_pubsub in infra/iam.tf).
// It returns the policy and each account's email (infra/iam.tf's accounts).
func policy(iamTF []byte, set *spec.Set) (*iamemu.Policy, map[string]string, error) {
	if iamTF == nil {
		iamTF = infra.IAMTF
	}
	datasets := map[string]bool{}
	for _, p := range set.Pipelines {
		for _, t := range []string{p.Destination.Table, p.Results.Table} {
			if t != "" {
				datasets[bqload.ParseTable(t, Project).Dataset] = true
			}
		}
	}
	if len(datasets) == 0 {
		datasets["dropcast"] = true // var.dataset_id's stand-in: the grants must land somewhere
	}
	seen := map[iamemu.Grant]bool{}
	var accounts map[string]string
	grants := []iamemu.Grant{{Member: "serviceAccount:" + storageAgent, Role: "roles/pubsub.publisher", Resource: "projects/" + Project}}
	for d := range datasets {
		tf, err := iamemu.ReadTerraform(iamTF, infra.VariablesTF, IAMPlaces(d))
		if err != nil {
			return nil, nil, fmt.Errorf("localstack: infra/iam.tf: %w", err)
		}
		accounts = tf.Accounts
		for _, g := range tf.Grants {
			if !seen[g] {
				seen[g] = true
				grants = append(grants, g)
			}
		}
	}
	p, err := iamemu.NewPolicy(grants)
	if err != nil {
		return nil, nil, fmt.Errorf("localstack: infra/iam.tf: %w", err)
	}
	return p, accounts, nil
}

// IAMPlaces are the stack's resources in the words of infra/iam.tf's
// places, with dataset as the place "dataset".
func IAMPlaces(dataset string) iamemu.Places {
	return iamemu.Places{
		Project: Project,
		Inbox:   InboxBucket, State: StateBucket, Work: WorkBucket, Results: ResultsBucket, Source: SourceBucket,
		Dataset: dataset, Queue: "projects/" + Project + "/locations/" + Region + "/queues/" + QueueID, Events: EventsTopic,
		Secrets:      map[string]string{"slack_webhook": "dropcast-slack-webhook", "webhook": "dropcast-webhook"},
		EnableAutoML: true,
	}
}

// authorizer lets the developer do anything and asks the policy for the rest.
type authorizer struct{ p *iamemu.Policy }

func (a authorizer) Check(identity, permission, resource string) error {
	if identity == Developer {
		return nil
	}
	return a.p.Check(identity, permission, resource)
}
