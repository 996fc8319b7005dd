#!/usr/bin/env python3
# RMSE of ggml's own reference quantizers (ggml-python's libggml, no importance matrix) on
# N(0,1): the llama.cpp figures tern's K-quants are compared with.
# Needs: pip install ggml-python numpy
import ctypes

import ggml
import numpy as np


n = 1 << 18
x = np.random.default_rng(1234).standard_normal(n).astype(np.float32)
names = {'Q4_0':2,'Q8_0':8,'Q2_K':10,'Q3_K':11,'Q4_K':12,'Q5_K':13,'Q6_K':14,'IQ4_NL':20,'IQ4_XS':23}
for name, t in names.items():
    nrow = n // 256; ncol = 256
    buf = (ctypes.c_uint8 * (n * 2))()
    size = ggml.ggml_quantize_chunk(t, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), buf, 0, nrow, ncol, None)
    tr = ggml.ggml_get_type_traits(t)
    y = np.zeros(n, dtype=np.float32)
    tr.contents.to_float(ctypes.cast(buf, ctypes.c_void_p), y.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n)
    print(name, size, '%.4f' % np.sqrt(np.mean((x.astype(np.float64)-y)**2)))
