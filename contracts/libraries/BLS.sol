// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title BLS
/// @notice BLS12-381 signatures with public keys in G1 and signatures in G2 (docs/PROTOCOL.md §3.2), on the EIP-2537
/// precompiles: RFC 9380 hash to G2 (suite `BLS12381G2_XMD:SHA-256_SSWU_RO_`, tag `BLS_DST`), aggregate verification
/// of distinct messages by one pairing check, and the compressed (ZCash) encodings a chunk and the state hold.
/// @dev Points are in the precompiles' layout: an Fp element is 64 bytes (16 zero bytes, then 48 big-endian), an Fp2
/// element `c0 ‖ c1`, a G1 point `x ‖ y` (128 bytes), a G2 point `x ‖ y` (256 bytes). A precompile that refuses its
/// input (a point off the curve or out of the subgroup, an element not below p) fails its call and burns the gas the
/// call was given, so every call here is given a fixed allowance: a bad input costs a bounded amount and this
/// library answers `false`, never reverts, for it. Which input was bad is the caller's question: a point the caller
/// took from a witness should be checked with `isOnCurveG1`/`isOnCurveG2` first.
// solhint-disable gas-small-strings
library BLS {
    /// @notice A precompile call whose failure would be read as a verdict on its input was left less gas than its
    /// allowance: the caller must send more (a proof can never be made to fail, or pass, by starving it).
    /// @param needed Gas the call needs left.
    /// @param left Gas left.
    error BLSNotEnoughGas(uint256 needed, uint256 left);

    /// @notice A precompile failed on input it cannot refuse (short of gas): hashing to the curve.
    error BLSPrecompileFailed();

    /// @notice The hash-to-curve domain separation tag (the one `@chainsafe/blst` signs with).
    bytes internal constant BLS_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    uint256 internal constant G1_POINT_BYTES = 128;
    uint256 internal constant G2_POINT_BYTES = 256;
    uint256 internal constant G1_COMPRESSED_BYTES = 48;
    uint256 internal constant G2_COMPRESSED_BYTES = 96;

    // The precompiles' addresses (EIP-2537; MODEXP is EIP-198's) and what they cost.
    uint256 private constant G1ADD = 0x0b;
    uint256 private constant G1MSM = 0x0c;
    uint256 private constant G2ADD = 0x0d;
    uint256 private constant PAIRING = 0x0f;
    uint256 private constant MAP_FP2_TO_G2 = 0x11;
    uint256 private constant MODEXP = 0x05;
    uint256 private constant G1ADD_GAS = 375;
    uint256 private constant G1MSM_ONE_GAS = 12_000;
    uint256 private constant G2ADD_GAS = 600;
    uint256 private constant MAP_FP2_TO_G2_GAS = 23_800;
    uint256 private constant PAIRING_BASE_GAS = 37_700;
    uint256 private constant PAIRING_PER_PAIR_GAS = 32_600;
    /// @dev MODEXP of a 64-byte base by the exponent 1 modulo p is at its EIP-7883 floor.
    uint256 private constant MODEXP_GAS = 500;
    /// @dev Added to each fixed allowance: the call's own cost beyond the precompile's price.
    uint256 private constant CALL_MARGIN_GAS = 200;

    // p = 0x1a0111ea…ffffaaab as its top 16 bytes and its low 32 bytes; (p - 1) / 2 the same way.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    uint256 private constant HALF_HI = 0xd0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant HALF_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;

    // The G1 generator negated: (x, p - y).
    uint256 private constant NEG_G1_X_HI = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 private constant NEG_G1_X_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 private constant NEG_G1_Y_HI = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 private constant NEG_G1_Y_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    /// @notice RFC 9380 `expand_message_xmd` with SHA-256 of a 32-byte message to the 256 bytes that hashing to G2
    /// needs (two Fp2 elements, 64 bytes per Fp coefficient), under `BLS_DST`.
    function expandMessage(bytes32 message) internal pure returns (bytes memory uniform) {
        bytes memory dstPrime = abi.encodePacked(BLS_DST, uint8(BLS_DST.length));
        // msg' = Z_pad(64) ‖ msg ‖ I2OSP(256, 2) ‖ I2OSP(0, 1) ‖ DST'
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(256), uint8(0), dstPrime));
        uniform = new bytes(256);
        bytes32 bi = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        assembly ("memory-safe") {
            mstore(add(uniform, 32), bi)
        }
        for (uint256 i = 2; i < 9; ++i) {
            bi = sha256(abi.encodePacked(b0 ^ bi, uint8(i), dstPrime));
            assembly ("memory-safe") {
                mstore(add(uniform, mul(i, 32)), bi)
            }
        }
    }

    /// @notice RFC 9380 `hash_to_curve` of a 32-byte message to G2: `hash_to_field` into two Fp2 elements, each mapped
    /// (MAP_FP2_TO_G2 maps and clears the cofactor), and the two points added: the 256-byte point. Reverts
    /// `BLSPrecompileFailed` if a precompile fails, which these inputs cannot make it do short of gas.
    function hashToG2(bytes32 message) internal view returns (bytes memory point) {
        bytes memory uniform = expandMessage(message);
        // Four 64-byte big-endian integers, each reduced mod p into an EIP-2537 Fp slot: u0 = (e0, e1), u1 = (e2, e3).
        bytes memory fields = new bytes(256);
        for (uint256 j = 0; j < 4; ++j) {
            if (!_reduce(uniform, j * 64, fields, j * 64)) revert BLSPrecompileFailed();
        }
        bytes memory sum = new bytes(512);
        bool ok;
        assembly ("memory-safe") {
            let f := add(fields, 32)
            let s := add(sum, 32)
            ok := staticcall(add(MAP_FP2_TO_G2_GAS, CALL_MARGIN_GAS), MAP_FP2_TO_G2, f, 128, s, 256)
            ok := and(
                ok,
                staticcall(add(MAP_FP2_TO_G2_GAS, CALL_MARGIN_GAS), MAP_FP2_TO_G2, add(f, 128), 128, add(s, 256), 256)
            )
        }
        if (!ok) revert BLSPrecompileFailed();
        point = new bytes(256);
        assembly ("memory-safe") {
            ok := staticcall(add(G2ADD_GAS, CALL_MARGIN_GAS), G2ADD, add(sum, 32), 512, add(point, 32), 256)
        }
        if (!ok) revert BLSPrecompileFailed();
    }

    /// @notice Whether `signature` (a G2 point) is an aggregate of a signature by `keys[i]` (G1 points, 128 bytes each,
    /// concatenated) on `messages[i]` for every i: `e(-g1, signature) · Π e(keys[i], H(messages[i])) = 1`. The
    /// messages must be distinct for this to mean anything without proofs of possession (§3.2). False for an empty
    /// list, a length mismatch, or any point the pairing precompile refuses (off the curve, outside its subgroup).
    function verifyAggregate(
        bytes memory keys,
        bytes32[] memory messages,
        bytes memory signature
    ) internal view returns (bool) {
        uint256 n = messages.length;
        if (n == 0 || keys.length != n * G1_POINT_BYTES || signature.length != G2_POINT_BYTES) return false;
        uint256 pairBytes = G1_POINT_BYTES + G2_POINT_BYTES;
        bytes memory input = new bytes((n + 1) * pairBytes);
        assembly ("memory-safe") {
            let p := add(input, 32)
            mstore(add(p, 16), shl(128, NEG_G1_X_HI))
            mstore(add(p, 32), NEG_G1_X_LO)
            mstore(add(p, 80), shl(128, NEG_G1_Y_HI))
            mstore(add(p, 96), NEG_G1_Y_LO)
            mcopy(add(p, 128), add(signature, 32), 256)
        }
        for (uint256 i = 0; i < n; ++i) {
            bytes memory h = hashToG2(messages[i]);
            assembly ("memory-safe") {
                let dst := add(add(input, 32), mul(add(i, 1), pairBytes))
                mcopy(dst, add(add(keys, 32), mul(i, 128)), 128)
                mcopy(add(dst, 128), add(h, 32), 256)
            }
        }
        return _pairingIsOne(input, n + 1);
    }

    /// @notice The compressed (ZCash) encoding of a G1 point: x, big-endian in 48 bytes, with the top three bits the
    /// flags (compressed, infinity, y the larger of y and p - y). The point is not checked.
    function compressG1(bytes memory point) internal pure returns (bytes memory out) {
        if (point.length != G1_POINT_BYTES) return "";
        (uint256 xHi, uint256 xLo) = _fp(point, 0);
        (uint256 yHi, uint256 yLo) = _fp(point, 64);
        uint256 flags = 0x80;
        if (xHi | xLo | yHi | yLo == 0) flags = 0xc0;
        else if (_gtHalf(yHi, yLo)) flags = 0xa0;
        out = new bytes(48);
        assembly ("memory-safe") {
            mstore(add(out, 32), or(shl(128, xHi), shr(128, xLo)))
            mstore(add(out, 64), shl(128, xLo))
            mstore8(add(out, 32), or(byte(0, mload(add(out, 32))), flags))
        }
    }

    /// @notice The compressed (ZCash) encoding of a G2 point: x.c1 ‖ x.c0 in 96 bytes, the flags on the first byte, the
    /// sign that of y.c1, or of y.c0 when y.c1 = 0. The point is not checked.
    function compressG2(bytes memory point) internal pure returns (bytes memory out) {
        if (point.length != G2_POINT_BYTES) return "";
        (uint256 x0Hi, uint256 x0Lo) = _fp(point, 0);
        (uint256 x1Hi, uint256 x1Lo) = _fp(point, 64);
        (uint256 y0Hi, uint256 y0Lo) = _fp(point, 128);
        (uint256 y1Hi, uint256 y1Lo) = _fp(point, 192);
        uint256 flags = 0x80;
        if (x0Hi | x0Lo | x1Hi | x1Lo | y0Hi | y0Lo | y1Hi | y1Lo == 0) flags = 0xc0;
        else if (y1Hi | y1Lo == 0 ? _gtHalf(y0Hi, y0Lo) : _gtHalf(y1Hi, y1Lo)) flags = 0xa0;
        out = new bytes(96);
        assembly ("memory-safe") {
            let o := add(out, 32)
            mstore(o, or(shl(128, x1Hi), shr(128, x1Lo)))
            mstore(add(o, 32), or(shl(128, x1Lo), x0Hi))
            mstore(add(o, 64), x0Lo)
            mstore8(o, or(byte(0, mload(o)), flags))
        }
    }

    /// @notice Whether `point` is a G1 point on the curve (or infinity), each coordinate below p. Not a subgroup check.
    function isOnCurveG1(bytes memory point) internal view returns (bool ok) {
        if (point.length != G1_POINT_BYTES) return false;
        _guard(G1ADD_GAS + CALL_MARGIN_GAS);
        bytes memory input = new bytes(256);
        bytes memory output = new bytes(128);
        assembly ("memory-safe") {
            mcopy(add(input, 32), add(point, 32), 128)
            ok := staticcall(add(G1ADD_GAS, CALL_MARGIN_GAS), G1ADD, add(input, 32), 256, add(output, 32), 128)
        }
    }

    /// @notice Whether `point` is a G2 point on the curve (or infinity), each coordinate below p. Not a subgroup check.
    function isOnCurveG2(bytes memory point) internal view returns (bool ok) {
        if (point.length != G2_POINT_BYTES) return false;
        _guard(G2ADD_GAS + CALL_MARGIN_GAS);
        bytes memory input = new bytes(512);
        bytes memory output = new bytes(256);
        assembly ("memory-safe") {
            mcopy(add(input, 32), add(point, 32), 256)
            ok := staticcall(add(G2ADD_GAS, CALL_MARGIN_GAS), G2ADD, add(input, 32), 512, add(output, 32), 256)
        }
    }

    /// @notice Whether `point` is a G1 point in the prime-order subgroup (MSM checks it; a multiplication by 1).
    function isInSubgroupG1(bytes memory point) internal view returns (bool ok) {
        if (point.length != G1_POINT_BYTES) return false;
        _guard(G1MSM_ONE_GAS + CALL_MARGIN_GAS);
        bytes memory input = new bytes(160);
        bytes memory output = new bytes(128);
        assembly ("memory-safe") {
            mcopy(add(input, 32), add(point, 32), 128)
            mstore(add(input, 160), 1)
            ok := staticcall(add(G1MSM_ONE_GAS, CALL_MARGIN_GAS), G1MSM, add(input, 32), 160, add(output, 32), 128)
        }
    }

    /// @notice A G1 point in the precompiles' layout from 96 bytes of calldata at `at` (x ‖ y, 48 bytes each).
    function g1FromCalldata(uint256 at) internal pure returns (bytes memory point) {
        point = new bytes(128);
        assembly ("memory-safe") {
            let p := add(point, 32)
            calldatacopy(add(p, 16), at, 48)
            calldatacopy(add(p, 80), add(at, 48), 48)
        }
    }

    /// @notice Whether a G1 point is a valid public key (§5.2, RegisterKey): not infinity, each coordinate below p, on
    /// the curve and in the prime-order subgroup.
    function isValidKey(bytes memory point) internal view returns (bool) {
        if (point.length != G1_POINT_BYTES) return false;
        bool zero;
        assembly ("memory-safe") {
            let p := add(point, 32)
            zero := iszero(or(or(mload(p), mload(add(p, 32))), or(mload(add(p, 64)), mload(add(p, 96)))))
        }
        return !zero && isInSubgroupG1(point);
    }

    /// @notice Whether the x coordinate `x0 + x1·u` of a compressed G2 point names no point (§5.4): `r` (64 bytes, an Fp
    /// element below p) satisfies `r² = −norm(x³ + 4(1 + u))`, so the right side of the curve's equation has a norm
    /// that is not a square in Fp (−1 is not one), and is itself not a square in Fp2. Both coordinates below p.
    function provesNoPoint(
        uint256 x0Hi,
        uint256 x0Lo,
        uint256 x1Hi,
        uint256 x1Lo,
        bytes memory r
    ) internal view returns (bool) {
        if (r.length != 64) return false;
        (uint256 rHi, uint256 rLo) = _fp(r, 0);
        if (!_belowP(rHi, rLo) || !_belowP(x0Hi, x0Lo) || !_belowP(x1Hi, x1Lo)) return false;
        (uint256[2] memory z0, uint256[2] memory z1) = _curveRhs([x0Hi, x0Lo], [x1Hi, x1Lo]);
        uint256[2] memory sum = _addP(_addP(_pow(z0, 2), _pow(z1, 2)), _pow([rHi, rLo], 2));
        return sum[0] == 0 && sum[1] == 0;
    }

    /// @notice Whether a 48-byte big-endian integer (top 16 bytes, low 32) is below p.
    function belowP(uint256 hi, uint256 lo) internal pure returns (bool) {
        return _belowP(hi, lo);
    }

    /// @dev x³ + 4(1 + u) for x = a + b·u: z0 = 2a³ − ((a+b)³ + (a−b)³)/2 + 4, z1 = ((a+b)³ − (a−b)³)/2 − 2b³ + 4, which
    /// are a³ − 3ab² + 4 and 3a²b − b³ + 4 with cubes only (MODEXP), never a product of two different numbers.
    function _curveRhs(
        uint256[2] memory a,
        uint256[2] memory b
    ) private view returns (uint256[2] memory z0, uint256[2] memory z1) {
        uint256[2] memory four = [uint256(0), 4];
        uint256[2] memory a3 = _pow(a, 3);
        uint256[2] memory b3 = _pow(b, 3);
        uint256[2] memory s3 = _pow(_addP(a, b), 3);
        uint256[2] memory d3 = _pow(_subP(a, b), 3);
        z0 = _addP(_subP(_addP(a3, a3), _halfP(_addP(s3, d3))), four);
        z1 = _addP(_subP(_halfP(_subP(s3, d3)), _addP(b3, b3)), four);
    }

    /// @dev v^e mod p by MODEXP, v below p as its top 16 bytes and its low 32.
    function _pow(uint256[2] memory v, uint256 e) private view returns (uint256[2] memory out) {
        bytes memory input = abi.encodePacked(
            uint256(48),
            uint256(1),
            uint256(48),
            uint128(v[0]),
            v[1],
            uint8(e),
            uint128(P_HI),
            P_LO
        );
        bool ok;
        uint256 hi;
        uint256 lo;
        assembly ("memory-safe") {
            let o := mload(0x40)
            mstore(o, 0)
            ok := staticcall(gas(), MODEXP, add(input, 32), mload(input), add(o, 16), 48)
            hi := mload(o)
            lo := mload(add(o, 32))
        }
        if (!ok) revert BLSPrecompileFailed();
        out[0] = hi;
        out[1] = lo;
    }

    /// @dev (a + b) mod p for a, b below p.
    function _addP(uint256[2] memory a, uint256[2] memory b) private pure returns (uint256[2] memory r) {
        unchecked {
            uint256 lo = a[1] + b[1];
            uint256 hi = a[0] + b[0] + (lo < a[1] ? 1 : 0);
            if (!_belowP(hi, lo)) (hi, lo) = _sub2(hi, lo, P_HI, P_LO);
            r[0] = hi;
            r[1] = lo;
        }
    }

    /// @dev (a − b) mod p for a, b below p.
    function _subP(uint256[2] memory a, uint256[2] memory b) private pure returns (uint256[2] memory r) {
        unchecked {
            uint256 hi = a[0];
            uint256 lo = a[1];
            if (hi < b[0] || (hi == b[0] && lo < b[1])) {
                uint256 plo = lo + P_LO;
                hi = hi + P_HI + (plo < lo ? 1 : 0);
                lo = plo;
            }
            (r[0], r[1]) = _sub2(hi, lo, b[0], b[1]);
        }
    }

    /// @dev v/2 mod p for v below p: v/2 when v is even, (v + p)/2 when it is odd.
    function _halfP(uint256[2] memory v) private pure returns (uint256[2] memory r) {
        unchecked {
            uint256 hi = v[0];
            uint256 lo = v[1];
            if (lo & 1 == 1) {
                uint256 plo = lo + P_LO;
                hi = hi + P_HI + (plo < lo ? 1 : 0);
                lo = plo;
            }
            r[1] = (lo >> 1) | (hi << 255);
            r[0] = hi >> 1;
        }
    }

    function _sub2(uint256 aHi, uint256 aLo, uint256 bHi, uint256 bLo) private pure returns (uint256, uint256) {
        unchecked {
            return (aHi - bHi - (aLo < bLo ? 1 : 0), aLo - bLo);
        }
    }

    function _belowP(uint256 hi, uint256 lo) private pure returns (bool) {
        return hi < P_HI || (hi == P_HI && lo < P_LO);
    }

    /// @dev Reverts unless the next call can be given `allowance` in full (63/64 of what is left, EIP-150).
    function _guard(uint256 allowance) private view {
        uint256 needed = allowance + allowance / 63 + 1000;
        if (gasleft() < needed) revert BLSNotEnoughGas(needed, gasleft());
    }

    /// @dev Reduces the 64-byte big-endian integer at `src[srcOffset..]` mod p into the EIP-2537 slot at
    /// `dst[dstOffset..]` (16 zero bytes, 48 bytes of the residue).
    function _reduce(
        bytes memory src,
        uint256 srcOffset,
        bytes memory dst,
        uint256 dstOffset
    ) private view returns (bool ok) {
        // MODEXP input: len(B) = 64, len(E) = 1, len(M) = 48, B, E = 1, M = p.
        (bytes32 hi, bytes32 lo) = _slice64(src, srcOffset);
        bytes memory input = abi.encodePacked(
            uint256(64),
            uint256(1),
            uint256(48),
            hi,
            lo,
            uint8(1),
            uint128(P_HI),
            P_LO
        );
        assembly ("memory-safe") {
            ok := staticcall(
                add(MODEXP_GAS, CALL_MARGIN_GAS),
                MODEXP,
                add(input, 32),
                mload(input),
                add(add(dst, 32), add(dstOffset, 16)),
                48
            )
        }
    }

    function _slice64(bytes memory src, uint256 offset) private pure returns (bytes32 a, bytes32 b) {
        assembly ("memory-safe") {
            a := mload(add(add(src, 32), offset))
            b := mload(add(add(src, 64), offset))
        }
    }

    function _pairingIsOne(bytes memory input, uint256 pairs) private view returns (bool) {
        uint256 allowance = PAIRING_BASE_GAS + pairs * PAIRING_PER_PAIR_GAS + CALL_MARGIN_GAS;
        _guard(allowance);
        uint256 result;
        bool ok;
        assembly ("memory-safe") {
            let out := mload(0x40)
            ok := staticcall(allowance, PAIRING, add(input, 32), mload(input), out, 32)
            result := mload(out)
        }
        return ok && result == 1;
    }

    /// @dev The Fp element at `offset` of a point in the precompiles' layout, as its top 16 bytes and its low 32.
    function _fp(bytes memory point, uint256 offset) private pure returns (uint256 hi, uint256 lo) {
        assembly ("memory-safe") {
            let p := add(add(point, 32), offset)
            hi := mload(p)
            lo := mload(add(p, 32))
        }
    }

    function _gtHalf(uint256 hi, uint256 lo) private pure returns (bool) {
        return hi > HALF_HI || (hi == HALF_HI && lo > HALF_LO);
    }
}
