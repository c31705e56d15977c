package gcstress_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
)

// client speaks the parts of the distribution API a pusher uses.
type client struct {
	base string
	hc   *http.Client
}

// regError is an OCI error answer.
type regError struct {
	Status int
	Code   string
	Digest digest.Digest // detail.digest of MANIFEST_BLOB_UNKNOWN
	Msg    string
}

func (e *regError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Msg) }

func (c *client) do(method, u string, body []byte, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = int64(len(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func asError(resp *http.Response, b []byte) error {
	var env struct {
		Errors []struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	e := &regError{Status: resp.StatusCode, Msg: string(b)}
	if json.Unmarshal(b, &env) == nil && len(env.Errors) > 0 {
		e.Code, e.Msg = env.Errors[0].Code, env.Errors[0].Message
		var d struct {
			Digest digest.Digest `json:"digest"`
		}
		_ = json.Unmarshal(env.Errors[0].Detail, &d)
		e.Digest = d.Digest
	}
	return e
}

func (c *client) url(repo, rest string) string { return c.base + "/v2/" + repo + rest }

// headBlob reports whether repo serves d.
func (c *client) headBlob(repo string, d digest.Digest) (bool, error) {
	resp, b, err := c.do("HEAD", c.url(repo, "/blobs/"+string(d)), nil)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case 200:
		return true, nil
	case 404:
		return false, nil
	}
	return false, asError(resp, b)
}

// location resolves an upload Location against the base.
func (c *client) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "", fmt.Errorf("bad Location %q", loc)
	}
	base, _ := url.Parse(c.base)
	return base.ResolveReference(u).String(), nil
}

// finish PUTs data to an upload session.
func (c *client) finish(loc string, data []byte) error {
	d := digest.FromBytes(data)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, b, err := c.do("PUT", loc+sep+"digest="+url.QueryEscape(string(d)), data, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if resp.StatusCode != 201 {
		return asError(resp, b)
	}
	return nil
}

// upload pushes data into repo: a session (POST, PUT), or, monolithic,
// one POST with the digest.
func (c *client) upload(repo string, data []byte, monolithic bool) error {
	d := digest.FromBytes(data)
	if monolithic {
		resp, b, err := c.do("POST", c.url(repo, "/blobs/uploads/?digest="+url.QueryEscape(string(d))), data,
			"Content-Type", "application/octet-stream")
		if err != nil {
			return err
		}
		if resp.StatusCode != 201 {
			return asError(resp, b)
		}
		return nil
	}
	resp, b, err := c.do("POST", c.url(repo, "/blobs/uploads/"), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 202 {
		return asError(resp, b)
	}
	loc, err := c.location(resp)
	if err != nil {
		return err
	}
	return c.finish(loc, data)
}

// mount asks for a cross-repository mount of data's digest from from;
// refused (202), it uploads into the session it was given. It reports
// whether the mount happened.
func (c *client) mount(repo, from string, data []byte) (bool, error) {
	d := digest.FromBytes(data)
	resp, b, err := c.do("POST", c.url(repo, "/blobs/uploads/?mount="+url.QueryEscape(string(d))+"&from="+url.QueryEscape(from)), nil)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case 201:
		return true, nil
	case 202:
		loc, err := c.location(resp)
		if err != nil {
			return false, err
		}
		return false, c.finish(loc, data)
	}
	return false, asError(resp, b)
}

func (c *client) putManifest(repo, ref string, body []byte) error {
	resp, b, err := c.do("PUT", c.url(repo, "/manifests/"+ref), body, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return err
	}
	if resp.StatusCode != 201 {
		return asError(resp, b)
	}
	return nil
}

func (c *client) getManifest(repo, ref string) ([]byte, digest.Digest, error) {
	resp, b, err := c.do("GET", c.url(repo, "/manifests/"+ref), nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != 200 {
		return nil, "", asError(resp, b)
	}
	return b, digest.Digest(resp.Header.Get("Docker-Content-Digest")), nil
}

func (c *client) getBlob(repo string, d digest.Digest) ([]byte, error) {
	resp, b, err := c.do("GET", c.url(repo, "/blobs/"+string(d)), nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, asError(resp, b)
	}
	return b, nil
}

func (c *client) deleteManifest(repo string, d digest.Digest) error {
	resp, b, err := c.do("DELETE", c.url(repo, "/manifests/"+string(d)), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 202 {
		return asError(resp, b)
	}
	return nil
}

func isCode(err error, code string) bool {
	var re *regError
	return errors.As(err, &re) && re.Code == code
}
