package app

import (
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/settings"
)

// systemOptions is what the API reports about the deployment: the blob
// storage (its capacity, its kind), the TLS certificate chain whose CA
// clients may download, the token lifetime; and the run-time settings.
func systemOptions(cfg config.Config, st *settings.Settings, blobs blob.Store) api.SystemOptions {
	o := api.SystemOptions{Settings: st, Blobs: blobs, StorageProvider: "filesystem", TokenTTL: cfg.Auth.TokenTTL}
	if cfg.Storage.Kind == "s3" {
		o.StorageProvider = "s3"
	}
	if tlsMode(cfg) == "files" {
		o.TLSCertFile = cfg.TLSCert
	}
	return o
}
