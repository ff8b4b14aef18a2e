// Package iamemu gives the local emulators Google Cloud's IAM model: every
// call carries the identity of the function that makes it (the service
// account Terraform gives that function), and each emulator asks a Policy
// whether that identity holds the permission the call needs on the resource
// it touches, through the roles granted on that resource or its project.
//
// Identities travel the way credentials do: as the bearer token of the
// request ("Authorization: Bearer <service account email>"), which the local
// stack's clients send instead of an OAuth token.
//
// Resource names follow IAM's full resource names, shortened:
//
//	projects/P                                   a project
//	projects/_/buckets/B                         a Cloud Storage bucket
//	projects/P/datasets/D                        a BigQuery dataset
//	projects/P/locations/L/queues/Q              a Cloud Tasks queue
//	projects/P/topics/T                          a Pub/Sub topic
//	projects/P/serviceAccounts/EMAIL             a service account
//	projects/P/secrets/S                         a Secret Manager secret
//
// A Policy grants on a resource or on its project; a grant on the project
// holds for every resource in it (buckets are treated as in the policy's
// project).
package iamemu

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Authorizer decides whether identity may use permission on resource. A
// refusal is a *Denied error. Emulators take a nil Authorizer as "allow
// everything" (no enforcement).
type Authorizer interface {
	Check(identity, permission, resource string) error
}

// Denied is a refused call: what Google answers as HTTP 403 or gRPC
// PERMISSION_DENIED, naming the permission.
type Denied struct {
	Identity, Permission, Resource string
}

func (d *Denied) Error() string {
	who := d.Identity
	if who == "" {
		who = "an unauthenticated caller"
	}
	return "Permission '" + d.Permission + "' denied on resource '" + d.Resource + "' for " + who + " (or it may not exist)"
}

// GRPCStatus makes a Denied a gRPC PERMISSION_DENIED status.
func (d *Denied) GRPCStatus() *status.Status { return status.New(codes.PermissionDenied, d.Error()) }

// IdentityFromHTTP is the identity a request's bearer token names, or "".
func IdentityFromHTTP(r *http.Request) string {
	return bearer(r.Header.Get("Authorization"))
}

// IdentityFromGRPC is the identity an incoming call's bearer token names, or "".
func IdentityFromGRPC(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if id := bearer(v); id != "" {
			return id
		}
	}
	return ""
}

func bearer(h string) string {
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(token)
}
