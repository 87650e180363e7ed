//go:build !cgo

package integrity

func fastGunzipAvailable() bool { return false }

func fastGunzip(in, out []byte) (n, used int, ok bool) { return 0, 0, false }
