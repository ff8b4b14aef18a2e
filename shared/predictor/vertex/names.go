package vertex

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dropcast/dropcast/shared/predictor"
)

// parent is projects/P/locations/L of the configured location.
func (b *Backend) parent() string {
	return "projects/" + b.cfg.Project + "/locations/" + b.cfg.Location
}

// modelName returns model's full resource name (model may be a bare ID),
// its location parent and its ID.
func (b *Backend) modelName(model string) (name, parent, id string, err error) {
	if model == "" {
		return "", "", "", fmt.Errorf("vertex: no model given")
	}
	if !strings.Contains(model, "/") {
		return b.parent() + "/models/" + model, b.parent(), model, nil
	}
	base, _, _ := strings.Cut(model, "@")
	parent, id, ok := strings.Cut(base, "/models/")
	if !ok || id == "" || strings.Contains(id, "/") || !strings.HasPrefix(parent, "projects/") || !strings.Contains(parent, "/locations/") {
		return "", "", "", fmt.Errorf("vertex: model %q is not projects/P/locations/L/models/ID", model)
	}
	return base, parent, id, nil
}

// sameResource reports whether two resource names name the same resource:
// the same location, collection and ID, whatever the project segment says
// and ignoring a @version. Vertex AI answers with the project number even
// when the request named the project by ID (docs/fidelity.md,
// vertex-resource-names), so names must never be compared as strings.
func sameResource(a, b string) bool {
	return afterProject(a) == afterProject(b)
}

// afterProject is name without its "projects/P/" prefix and @version.
func afterProject(name string) string {
	name, _, _ = strings.Cut(name, "@")
	if rest, ok := strings.CutPrefix(name, "projects/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			return after
		}
	}
	return name
}

// endpointID is the ID of the endpoint that serves model ID id: "dropcast-"
// and the ID in the characters endpoint IDs allow, at most 63 of them.
func endpointID(id string) string {
	var sb strings.Builder
	sb.WriteString("dropcast-")
	for _, r := range strings.ToLower(id) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('-')
		}
	}
	out := sb.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.TrimRight(out, "-")
}

// callErr wraps an error from a Vertex AI call; quota and rate-limit errors
// (ResourceExhausted) also wrap predictor.ErrQuota.
func callErr(what string, err error) error {
	if status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("vertex: %s: %w: %w", what, predictor.ErrQuota, err)
	}
	return fmt.Errorf("vertex: %s: %w", what, err)
}
