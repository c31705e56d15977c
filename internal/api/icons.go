package api

import (
	"embed"
	"encoding/base64"
	"net/http"

	"github.com/berth-registry/berth/internal/oci"
)

// The icons of artifact types, berth's own drawings, served under the
// digests by which Harbor names its built-in icons (src/lib/icon in
// Harbor): UIs ask for those digests. Harbor serves them as PNG; these
// are SVG, with that content type.
//
//go:embed icons/*.svg
var iconFiles embed.FS

// builtInIcons maps Harbor's icon digests to our files.
var builtInIcons = map[string]string{
	"sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06": "image",
	"sha256:61cf3a178ff0f75bf08a25d96b75cf7355dc197749a9f128ed3ef34b0df05518": "chart",
	"sha256:089bdda265c14d8686111402c8ad629e8177a1ceb7dcd0f7f39b6480f623b3bd": "cnab",
	"sha256:da834479c923584f4cbcdecc0dac61f32bef1d51e8aae598cf16bd154efab49f": "default",
	"sha256:badd7693bcaf115be202748241dd0ea6ee3b0524bfab9ac22d1e1c43721afec6": "wasm",
	"sha256:1e1e5c5fdaf0931ec8655e835d1182f723a0c322a6760211622e1270f0193717": "cnai",
	"sha256:20401d5b3a0f6dbc607c8d732eb08471af4ae6b19811a4efce8c6a724aed2882": "cosign",
	"sha256:3ac706e102bbe9362b400aa162df58135d35e66b9c3bee2165de92022d25fe34": "notation",
	"sha256:dfcb6617cd9c144358dc1b305b87bbe34f0b619f1e329116e6aee2e41f2e34cf": "nydus",
	"sha256:c19f80c357cd7e90d2a01b9ae3e2eb62ce447a2662bb590a19177d72d550bdae": "sbom",
}

// typeIcons are the icons of the artifact types that have one; Harbor
// names every other type's artifacts by its default icon
// (populateIcon in src/controller/artifact).
var typeIcons = map[string]string{
	"IMAGE": "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06",
	"CHART": "sha256:61cf3a178ff0f75bf08a25d96b75cf7355dc197749a9f128ed3ef34b0df05518",
	"CNAB":  "sha256:089bdda265c14d8686111402c8ad629e8177a1ceb7dcd0f7f39b6480f623b3bd",
	"WASM":  "sha256:badd7693bcaf115be202748241dd0ea6ee3b0524bfab9ac22d1e1c43721afec6",
	"CNAI":  "sha256:1e1e5c5fdaf0931ec8655e835d1182f723a0c322a6760211622e1270f0193717",
}

const defaultIcon = "sha256:da834479c923584f4cbcdecc0dac61f32bef1d51e8aae598cf16bd154efab49f"

// iconOf is the icon digest of an artifact of type typ (Harbor's
// artifact.icon), one that GET /icons/{digest} serves.
func iconOf(typ string) string {
	if d, ok := typeIcons[typ]; ok {
		return d
	}
	return defaultIcon
}

// icon is Harbor's Icon (note the hyphen in content-type).
type icon struct {
	ContentType string `json:"content-type"`
	Content     string `json:"content"`
}

// getIcon: GET /icons/{digest}, to anyone. Only the built-in icons: berth
// does not serve icons that artifacts name themselves (Harbor's chart
// icons), so any other well-formed digest is 404; a malformed one 400.
func (s *Server) getIcon(w http.ResponseWriter, r *http.Request) error {
	d := r.PathValue("digest")
	if _, err := oci.ParseDigest(d); err != nil {
		return errBadRequest("invalid digest " + d + ": " + err.Error())
	}
	name, ok := builtInIcons[d]
	if !ok {
		return errNotFound("the icon " + d + " not found")
	}
	b, err := iconFiles.ReadFile("icons/" + name + ".svg")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, icon{ContentType: "image/svg+xml", Content: base64.StdEncoding.EncodeToString(b)})
}
