package kernels

/*
#cgo CFLAGS: -O3
#include "cols.h"
*/
import "C"

import "unsafe"

// s1 reports whether g has unit strides and dilations, the geometry cols.c handles.
func (g ConvGeom) s1() bool { return g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 }

// im2colImage writes the [K, P] patch matrix of one image x ([C, H, W]) to col, in C for
// float32 stride-1 geometries and in Go otherwise. gi is the one-image geometry.
func im2colImage[T Float](gi ConvGeom, x, col []T) {
	if x32, ok := any(x).([]float32); ok && gi.s1() {
		c32 := any(col).([]float32)
		checkLen("im2col x", len(x32), gi.C*gi.H*gi.W)
		checkLen("im2col col", len(c32), gi.k()*gi.p())
		C.uqnn_im2col_s1((*C.float)(unsafe.Pointer(&x32[0])), (*C.float)(unsafe.Pointer(&c32[0])),
			C.int(gi.C), C.int(gi.H), C.int(gi.W), C.int(gi.KH), C.int(gi.KW), C.int(gi.PadT), C.int(gi.PadL), C.int(gi.OH), C.int(gi.OW))
		return
	}
	im2colRows(gi, x, col, 0, gi.k())
}

// col2imImage overwrites one image's input gradient dx ([C, H, W]) with the sum of its patch
// gradient col ([K, P]) into the positions the patches came from; C for float32 stride-1
// geometries, Go otherwise.
func col2imImage[T Float](gi ConvGeom, col, dx []T) {
	if c32, ok := any(col).([]float32); ok && gi.s1() {
		d32 := any(dx).([]float32)
		checkLen("col2im col", len(c32), gi.k()*gi.p())
		checkLen("col2im dx", len(d32), gi.C*gi.H*gi.W)
		C.uqnn_col2im_s1((*C.float)(unsafe.Pointer(&c32[0])), (*C.float)(unsafe.Pointer(&d32[0])),
			C.int(gi.C), C.int(gi.H), C.int(gi.W), C.int(gi.KH), C.int(gi.KW), C.int(gi.PadT), C.int(gi.PadL), C.int(gi.OH), C.int(gi.OW))
		return
	}
	clear(dx[:gi.C*gi.H*gi.W])
	col2imRows(gi, col, dx, 0, gi.k(), 0, 1)
}
