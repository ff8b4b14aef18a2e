package vertexemu

import (
	"fmt"
	"hash/fnv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// projectNumber is the number the emulator gives project id when Options
// names none: 12 digits derived from the ID, so every run of the emulator
// answers with the same number and the number never equals the ID.
func projectNumber(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	return fmt.Sprint(100_000_000_000 + h.Sum64()%900_000_000_000)
}

// canon rewrites a resource name that names the project by its ID into the
// form Vertex AI answers with, projects/NUMBER/...; other names are
// returned as they are.
func (s *Server) canon(name string) string {
	if rest, ok := strings.CutPrefix(name, "projects/"+s.opts.Project+"/"); ok {
		return "projects/" + s.opts.ProjectNumber + "/" + rest
	}
	return name
}

// checkParent checks that parent is this emulator's location, named by
// project ID or number.
func (s *Server) checkParent(parent string) error {
	if s.canon(parent) != s.parent() {
		return status.Errorf(codes.NotFound, "location %q not found; this emulator serves %s", parent, s.parent())
	}
	return nil
}

// childID returns the ID of name if it is parent/collection/ID in this
// emulator's location.
func (s *Server) childID(name, collection string) (string, error) {
	prefix := s.parent() + "/" + collection + "/"
	id, ok := strings.CutPrefix(s.canon(name), prefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", status.Errorf(codes.InvalidArgument, "invalid resource name %q: want %sID", name, prefix)
	}
	return id, nil
}

// modelID resolves a model resource name (optionally with @version, which
// is ignored) to a registered model ID.
func (s *Server) modelID(name string) (string, error) {
	name, _, _ = strings.Cut(name, "@")
	id, err := s.childID(name, "models")
	if err != nil {
		return "", err
	}
	if _, ok := s.opts.Models[id]; !ok {
		return "", status.Errorf(codes.NotFound, "model %q not found", name)
	}
	return id, nil
}
