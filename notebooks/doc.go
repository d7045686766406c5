// Package notebooks holds Kairos' Jupyter notebooks (see README.md) and
// the test that executes every one of them headlessly, with nbclient, on a
// small simulated export. It has no Go API.
package notebooks
