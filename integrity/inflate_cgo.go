//go:build cgo

package integrity

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

typedef void *(*ot_alloc_fn)(void);
typedef int (*ot_gunzip_fn)(void *, const void *, size_t, void *, size_t, size_t *, size_t *);
typedef void (*ot_free_fn)(void *);

static ot_alloc_fn ot_alloc_p;
static ot_gunzip_fn ot_gunzip_p;
static ot_free_fn ot_free_p;

// ot_load looks for libdeflate at run time, so that opentrail builds and
// runs without it and only validates faster where it is installed.
static int ot_load(void) {
	void *h = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h) return 0;
	ot_alloc_p = (ot_alloc_fn)dlsym(h, "libdeflate_alloc_decompressor");
	ot_gunzip_p = (ot_gunzip_fn)dlsym(h, "libdeflate_gzip_decompress_ex");
	ot_free_p = (ot_free_fn)dlsym(h, "libdeflate_free_decompressor");
	return ot_alloc_p != NULL && ot_gunzip_p != NULL && ot_free_p != NULL;
}

static void *ot_alloc(void) { return ot_alloc_p(); }
static void ot_free(void *d) { ot_free_p(d); }

static int ot_gunzip(void *d, const void *in, size_t n, void *out, size_t avail, size_t *in_used, size_t *out_used) {
	return ot_gunzip_p(d, in, n, out, avail, in_used, out_used);
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

var (
	loadOnce  sync.Once
	available bool
	// decompressors are idle libdeflate decompressor states (one is not
	// safe for concurrent use; each is a few tens of KiB).
	decompressors chan unsafe.Pointer
)

func fastGunzipAvailable() bool {
	loadOnce.Do(func() {
		available = C.ot_load() != 0
		decompressors = make(chan unsafe.Pointer, 64)
	})
	return available
}

// fastGunzip decompresses the first gzip member of in into out, which must
// be large enough, with libdeflate. ok is false when libdeflate is missing
// or did not decompress the member cleanly (corrupt data, a CRC or length
// mismatch, out too small): the caller then takes the streaming path,
// which classifies the problem. used is how many bytes of in the member
// took.
func fastGunzip(in, out []byte) (n, used int, ok bool) {
	if len(in) == 0 || len(out) == 0 || !fastGunzipAvailable() {
		return 0, 0, false
	}
	var d unsafe.Pointer
	select {
	case d = <-decompressors:
	default:
		d = C.ot_alloc()
		if d == nil {
			return 0, 0, false
		}
	}
	var inUsed, outUsed C.size_t
	res := C.ot_gunzip(d, unsafe.Pointer(&in[0]), C.size_t(len(in)), unsafe.Pointer(&out[0]), C.size_t(len(out)), &inUsed, &outUsed)
	select {
	case decompressors <- d:
	default:
		C.ot_free(d)
	}
	if res != 0 {
		return 0, 0, false
	}
	return int(outUsed), int(inUsed), true
}
