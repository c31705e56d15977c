package registry

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestReplayedFinalPut: a replica records a PUT's final chunk and dies
// before answering; nginx retries the PUT (it holds the body) on another
// replica. The retry must commit the blob, not append the chunk twice and
// answer DIGEST_INVALID. A PUT whose body is new still appends it.
func TestReplayedFinalPut(t *testing.T) {
	e := newEnv(t, Options{})
	full := []byte("first part, final chunk")
	d := digest.FromBytes(full)
	loc := startSession(e, "r")
	// The dead replica's work: every byte recorded, no commit.
	e.expect(e.do("PATCH", loc, bytes.NewReader(full), "Content-Range", "0-22"), http.StatusAccepted, "")
	r := e.do("PUT", loc+"?digest="+string(d), bytes.NewReader(full[12:]), "Content-Type", "application/octet-stream")
	e.expect(r, http.StatusCreated, "")
	if got := e.do("GET", "/v2/r/blobs/"+string(d), nil); !bytes.Equal(got.body, full) {
		t.Fatalf("blob = %q, want %q", got.body, full)
	}

	// The same state, but the body is more content: appended as usual.
	loc = startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader(full), "Content-Range", "0-22"), http.StatusAccepted, "")
	more := append(append([]byte{}, full...), '!')
	e.expect(e.do("PUT", loc+"?digest="+string(digest.FromBytes(more)), bytes.NewReader([]byte("!"))), http.StatusCreated, "")
	if got := e.do("GET", "/v2/r/blobs/"+string(digest.FromBytes(more)), nil); !bytes.Equal(got.body, more) {
		t.Fatalf("blob = %q, want %q", got.body, more)
	}
	// And a body that does not complete the digest is still refused.
	loc = startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader(full[:12]), "Content-Range", "0-11"), http.StatusAccepted, "")
	e.expect(e.do("PUT", loc+"?digest="+string(d), bytes.NewReader([]byte("wrong"))), http.StatusBadRequest, "DIGEST_INVALID")
}
