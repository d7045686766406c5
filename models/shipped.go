package models

import (
	"embed"
	"io/fs"
)

//go:embed all:shipped
var shipped embed.FS

// Shipped returns the model directory embedded in the binary: the models
// `make models` trains from a seeded simulation (models/shipped).
func Shipped() fs.FS {
	sub, err := fs.Sub(shipped, "shipped")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}
