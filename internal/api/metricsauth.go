package api

import (
	"net/http"

	"github.com/berth-registry/berth/internal/auth"
)

// IsAdmin reports whether r carries a system administrator's credentials
// (Basic, or a session cookie), as the API would authenticate it: what
// /metrics on the main listener accepts besides its token.
func (s *Server) IsAdmin(w http.ResponseWriter, r *http.Request) bool {
	ctx, err := s.authenticate(w, r)
	return err == nil && auth.FromContext(ctx).SysAdmin
}
