"""Compiled 3-D block reducers behind :mod:`ngffkit.kernels` (not public).

Every kernel takes a C-contiguous 3-D ``src``, a preallocated ``out`` of shape
``ceil(src.shape / (fz, fy, fx))`` and the three factors, and handles the partial blocks at
the far edges itself. The arithmetic mirrors the numpy path in ``kernels.py`` step by step
(same accumulator types, same order of float additions, same rounding), because the two
must agree bit for bit; ``tests/test_kernels.py`` checks that they do.

Numba compiles one specialisation per input dtype on first use and caches it on disk
(``cache=True``), so a fresh process pays a few hundred milliseconds once per dtype and
method, and later processes only load the cached machine code.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def _shift_for(n):  # type: ignore[no-untyped-def]
    # Block counts are mostly powers of two (8, 4, 2); a shift is far cheaper than a
    # 64-bit division and, being arithmetic, floors negative sums exactly like ``//``.
    sh = 0
    while (1 << sh) < n:
        sh += 1
    return sh if (1 << sh) == n else -1


@njit(cache=True, nogil=True)
def mean_int(src, out, fz, fy, fx, acc):  # type: ignore[no-untyped-def]
    """Round-half-up integer block mean; ``acc`` is a row buffer wide enough for the sums."""
    nz, ny, nx = src.shape
    oz_n, oy_n, ox_n = out.shape
    full_x = nx // fx
    for oz in range(oz_n):
        z0 = oz * fz
        z1 = min(z0 + fz, nz)
        for oy in range(oy_n):
            y0 = oy * fy
            y1 = min(y0 + fy, ny)
            # Summing whole rows first keeps the hot loop contiguous (it vectorises) for any
            # factor; the x-pairs are folded afterwards on a row that sits in L1.
            row = src[z0, y0]
            for x in range(nx):
                acc[x] = row[x]
            for z in range(z0, z1):
                for y in range(y0, y1):
                    if z == z0 and y == y0:
                        continue
                    row = src[z, y]
                    for x in range(nx):
                        acc[x] += row[x]
            nzy = (z1 - z0) * (y1 - y0)
            orow = out[oz, oy]
            n = nzy * fx
            half = n // 2
            sh = _shift_for(n)
            if fx == 1:
                if sh >= 0:
                    for ox in range(full_x):
                        orow[ox] = (acc[ox] + half) >> sh
                else:
                    for ox in range(full_x):
                        orow[ox] = (acc[ox] + half) // n
            elif fx == 2 and sh >= 0:
                for ox in range(full_x):
                    orow[ox] = (acc[2 * ox] + acc[2 * ox + 1] + half) >> sh
            else:
                for ox in range(full_x):
                    s = acc[ox * fx]
                    for x in range(ox * fx + 1, ox * fx + fx):
                        s += acc[x]
                    orow[ox] = (s + half) // n
            if full_x < ox_n:
                x0 = full_x * fx
                s = acc[x0]
                for x in range(x0 + 1, nx):
                    s += acc[x]
                n = nzy * (nx - x0)
                orow[full_x] = (s + n // 2) // n


@njit(cache=True, nogil=True)
def mean_float(src, out, fz, fy, fx, acc):  # type: ignore[no-untyped-def]
    """Float block mean in float64: rows (z, y order) first, then x, starting from 0.0."""
    nz, ny, nx = src.shape
    oz_n, oy_n, ox_n = out.shape
    for oz in range(oz_n):
        z0 = oz * fz
        z1 = min(z0 + fz, nz)
        for oy in range(oy_n):
            y0 = oy * fy
            y1 = min(y0 + fy, ny)
            for x in range(nx):
                acc[x] = 0.0
            for z in range(z0, z1):
                for y in range(y0, y1):
                    row = src[z, y]
                    for x in range(nx):
                        acc[x] += row[x]
            nzy = (z1 - z0) * (y1 - y0)
            orow = out[oz, oy]
            full_x = nx // fx
            n = nzy * fx
            # Unrolled for the common factors; each keeps the generic loop's exact order,
            # (0.0 + a) + b, so -0.0 and rounding agree with the numpy path.
            if fx == 1:
                for ox in range(full_x):
                    orow[ox] = (0.0 + acc[ox]) / n
            elif fx == 2:
                for ox in range(full_x):
                    orow[ox] = ((0.0 + acc[2 * ox]) + acc[2 * ox + 1]) / n
            else:
                full_x = 0
            for ox in range(full_x, ox_n):
                x0 = ox * fx
                x1 = min(x0 + fx, nx)
                s = 0.0
                for x in range(x0, x1):
                    s += acc[x]
                orow[ox] = s / (nzy * (x1 - x0))


@njit(cache=True, nogil=True)
def _pick(v, a, want_max):  # type: ignore[no-untyped-def]
    # Non-short-circuit operators make this a select, not a branch, so loops vectorise.
    # v != v is only true for NaN (NaN wins, as in numpy) and folds away for integers.
    if want_max:
        return v if (v > a) | (v != v) else a
    return v if (v < a) | (v != v) else a


@njit(cache=True, nogil=True)
def min_max(src, out, fz, fy, fx, acc, want_max):  # type: ignore[no-untyped-def]
    """Block minimum or maximum; a NaN anywhere in a block makes the result NaN (as numpy)."""
    nz, ny, nx = src.shape
    oz_n, oy_n, ox_n = out.shape
    full_x = nx // fx
    for oz in range(oz_n):
        z0 = oz * fz
        z1 = min(z0 + fz, nz)
        for oy in range(oy_n):
            y0 = oy * fy
            y1 = min(y0 + fy, ny)
            row = src[z0, y0]
            for x in range(nx):
                acc[x] = row[x]
            for z in range(z0, z1):
                for y in range(y0, y1):
                    if z == z0 and y == y0:
                        continue
                    row = src[z, y]
                    for x in range(nx):
                        acc[x] = _pick(row[x], acc[x], want_max)
            orow = out[oz, oy]
            if fx == 1:
                for ox in range(full_x):
                    orow[ox] = acc[ox]
            elif fx == 2:
                for ox in range(full_x):
                    orow[ox] = _pick(acc[2 * ox + 1], acc[2 * ox], want_max)
            else:
                for ox in range(full_x):
                    a = acc[ox * fx]
                    for x in range(ox * fx + 1, ox * fx + fx):
                        a = _pick(acc[x], a, want_max)
                    orow[ox] = a
            if full_x < ox_n:
                a = acc[full_x * fx]
                for x in range(full_x * fx + 1, nx):
                    a = _pick(acc[x], a, want_max)
                orow[full_x] = a


@njit(cache=True, nogil=True)
def _less(a, b):  # type: ignore[no-untyped-def]
    # numpy's sort order: NaN after everything else. For integers this is just a < b.
    return a < b or (b != b and a == a)


@njit(cache=True, nogil=True)
def _sort(buf, k):  # type: ignore[no-untyped-def]
    # Shell sort: insertion sort for the small blocks (edges, factor 3) and still fine for
    # big ones (4x4x4 and up). numba's own sort would add seconds of compile time per dtype.
    gap = 1
    while gap * 3 + 1 < k:
        gap = gap * 3 + 1
    while gap > 0:
        for i in range(gap, k):
            v = buf[i]
            j = i - gap
            while j >= 0 and _less(v, buf[j]):
                buf[j + gap] = buf[j]
                j -= gap
            buf[j + gap] = v
        gap //= 3


@njit(cache=True, nogil=True)
def _mode_of(buf, k):  # type: ignore[no-untyped-def]
    # Blocks of unusual size only (edges, factors other than 1 and 2).
    _sort(buf, k)
    # On sorted values the first run to reach a length is the smallest value of that
    # length, so "strictly longer replaces" gives ties -> smallest.
    best = buf[0]
    best_n = 0
    run = 0
    prev = buf[0]
    for i in range(k):
        v = buf[i]
        if v == prev:
            run += 1
        else:
            prev = v
            run = 1
        if run > best_n:
            best_n = run
            best = v
    return best


@njit(cache=True, nogil=True)
def _cx(a, b):  # type: ignore[no-untyped-def]
    # A compare-exchange; straight-line networks of these compile to branch-free min/max,
    # which matters because boundary blocks make every data-dependent branch a coin toss.
    if _less(b, a):
        return b, a
    return a, b


@njit(cache=True, nogil=True)
def _step(v, prev, run, best, best_n):  # type: ignore[no-untyped-def]
    run = run + 1 if v == prev else 1
    if run > best_n:
        return run, v, run
    return run, best, best_n


@njit(cache=True, nogil=True)
def _select8(v0, v1, v2, v3, v4, v5, v6, v7, want_median):  # type: ignore[no-untyped-def]
    # The optimal 19-comparator sorting network for 8 inputs.
    v0, v1 = _cx(v0, v1)
    v2, v3 = _cx(v2, v3)
    v4, v5 = _cx(v4, v5)
    v6, v7 = _cx(v6, v7)
    v0, v2 = _cx(v0, v2)
    v1, v3 = _cx(v1, v3)
    v4, v6 = _cx(v4, v6)
    v5, v7 = _cx(v5, v7)
    v1, v2 = _cx(v1, v2)
    v5, v6 = _cx(v5, v6)
    v0, v4 = _cx(v0, v4)
    v3, v7 = _cx(v3, v7)
    v1, v5 = _cx(v1, v5)
    v2, v6 = _cx(v2, v6)
    v1, v4 = _cx(v1, v4)
    v3, v6 = _cx(v3, v6)
    v2, v4 = _cx(v2, v4)
    v3, v5 = _cx(v3, v5)
    v3, v4 = _cx(v3, v4)
    if want_median:
        return v3
    run, best, best_n = 1, v0, 1
    run, best, best_n = _step(v1, v0, run, best, best_n)
    run, best, best_n = _step(v2, v1, run, best, best_n)
    run, best, best_n = _step(v3, v2, run, best, best_n)
    run, best, best_n = _step(v4, v3, run, best, best_n)
    run, best, best_n = _step(v5, v4, run, best, best_n)
    run, best, best_n = _step(v6, v5, run, best, best_n)
    run, best, best_n = _step(v7, v6, run, best, best_n)
    return best


@njit(cache=True, nogil=True)
def _select4(v0, v1, v2, v3, want_median):  # type: ignore[no-untyped-def]
    v0, v1 = _cx(v0, v1)
    v2, v3 = _cx(v2, v3)
    v0, v2 = _cx(v0, v2)
    v1, v3 = _cx(v1, v3)
    v1, v2 = _cx(v1, v2)
    if want_median:
        return v1
    run, best, best_n = 1, v0, 1
    run, best, best_n = _step(v1, v0, run, best, best_n)
    run, best, best_n = _step(v2, v1, run, best, best_n)
    run, best, best_n = _step(v3, v2, run, best, best_n)
    return best


@njit(cache=True, nogil=True)
def select(src, out, fz, fy, fx, buf, same, uniform, want_median):  # type: ignore[no-untyped-def]
    """Per-block mode (ties -> smallest) or lower median (element (n-1)//2, NaN sorts last).

    ``buf`` holds one block; ``same`` (length nx) and ``uniform`` (length of an out row) are
    uint8 scratch rows.
    """
    nz, ny, nx = src.shape
    oz_n, oy_n, ox_n = out.shape
    full_x = nx // fx
    for oz in range(oz_n):
        z0 = oz * fz
        z1 = min(z0 + fz, nz)
        for oy in range(oy_n):
            y0 = oy * fy
            y1 = min(y0 + fy, ny)
            # Label volumes are mostly blocks of one label. A first pass writes every
            # block's first voxel and flags the blocks that hold nothing else; only the
            # others pay for gathering and selecting.
            orow = out[oz, oy]
            first = src[z0, y0]
            # The block's rows in (z, y) order. Up to four rows, unused ones alias the first,
            # which leaves the uniformity test unchanged and keeps it one vectorised loop.
            nyb = y1 - y0
            nzy = (z1 - z0) * nyb
            r0 = first
            r1 = src[z0 + 1 // nyb, y0 + 1 % nyb] if nzy > 1 else first
            r2 = src[z0 + 2 // nyb, y0 + 2 % nyb] if nzy > 2 else first
            r3 = src[z0 + 3 // nyb, y0 + 3 % nyb] if nzy > 3 else first
            if fx == 2 and nzy <= 4:
                # Contiguous compare first (vectorises), then fold the x pairs.
                for x in range(nx):
                    a = r0[x]
                    same[x] = (r1[x] == a) & (r2[x] == a) & (r3[x] == a)
                for ox in range(full_x):
                    x = 2 * ox
                    a = r0[x]
                    orow[ox] = a
                    uniform[ox] = same[x] & same[x + 1] & (r0[x + 1] == a)
            elif fx == 1 and nzy <= 4:
                for ox in range(full_x):
                    a = r0[ox]
                    orow[ox] = a
                    uniform[ox] = (r1[ox] == a) & (r2[ox] == a) & (r3[ox] == a)
            else:
                for x in range(nx):
                    same[x] = 1
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        row = src[z, y]
                        for x in range(nx):
                            same[x] &= row[x] == first[x]
                for ox in range(full_x):
                    a = first[ox * fx]
                    orow[ox] = a
                    u = same[ox * fx]
                    for x in range(ox * fx + 1, ox * fx + fx):
                        u &= same[x] & (first[x] == a)
                    uniform[ox] = u
            for ox in range(full_x, ox_n):
                uniform[ox] = 0
            for ox in range(ox_n):
                if uniform[ox]:
                    continue
                x0 = ox * fx
                if ox < full_x and fx == 2 and nzy == 4:
                    orow[ox] = _select8(
                        r0[x0],
                        r0[x0 + 1],
                        r1[x0],
                        r1[x0 + 1],
                        r2[x0],
                        r2[x0 + 1],
                        r3[x0],
                        r3[x0 + 1],
                        want_median,
                    )
                elif ox < full_x and fx == 2 and nzy == 2:
                    orow[ox] = _select4(r0[x0], r0[x0 + 1], r1[x0], r1[x0 + 1], want_median)
                elif ox < full_x and fx == 1 and nzy == 4:
                    orow[ox] = _select4(r0[x0], r1[x0], r2[x0], r3[x0], want_median)
                elif ox < full_x and fx == 1 and nzy == 2:
                    # Two values: the lower median and the tie-broken mode are both the min.
                    orow[ox] = _cx(r0[x0], r1[x0])[0]
                else:
                    x1 = min(x0 + fx, nx)
                    k = 0
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for x in range(x0, x1):
                                buf[k] = src[z, y, x]
                                k += 1
                    if want_median:
                        _sort(buf, k)
                        orow[ox] = buf[(k - 1) // 2]
                    else:
                        orow[ox] = _mode_of(buf, k)


__all__ = ["mean_float", "mean_int", "min_max", "select"]
