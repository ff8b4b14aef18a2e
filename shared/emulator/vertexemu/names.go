package vertexemu

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkParent checks that parent is this emulator's location.
func (s *Server) checkParent(parent string) error {
	if parent != s.parent() {
		return status.Errorf(codes.NotFound, "location %q not found; this emulator serves %s", parent, s.parent())
	}
	return nil
}

// childID returns the ID of name if it is parent/collection/ID in this
// emulator's location.
func (s *Server) childID(name, collection string) (string, error) {
	prefix := s.parent() + "/" + collection + "/"
	id, ok := strings.CutPrefix(name, prefix)
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
