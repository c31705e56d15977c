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

// TestReplayedFinalPutAfterCommit: the replica committed the blob and died
// before answering; the replayed PUT finds no session, and answers 201
// because the blob is in the repository. In another repository, or for
// another digest, the session is still unknown.
func TestReplayedFinalPutAfterCommit(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("committed before the crash")
	d := digest.FromBytes(content)
	loc := startSession(e, "r")
	e.expect(e.do("PATCH", loc, bytes.NewReader(content)), http.StatusAccepted, "")
	e.expect(e.do("PUT", loc+"?digest="+string(d), nil), http.StatusCreated, "")
	r := e.do("PUT", loc+"?digest="+string(d), nil)
	e.expect(r, http.StatusCreated, "")
	if r.header.Get("Docker-Content-Digest") != string(d) {
		t.Fatalf("replay answer lacks the digest: %v", r.header)
	}
	e.expect(e.do("PUT", loc+"?digest="+string(digest.FromString("other")), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	other := "/v2/s/blobs/uploads/" + loc[len("/v2/r/blobs/uploads/"):]
	e.expect(e.do("PUT", other+"?digest="+string(d), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}
