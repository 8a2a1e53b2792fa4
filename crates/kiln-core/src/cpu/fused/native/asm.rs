//! A minimal x86-64 assembler for the native fused kernels: the AVX-512
//! (EVEX-encoded, 512-bit, f32) instructions they use, a few integer
//! instructions for the loop, and a pool of 32-bit constants placed after
//! the code and read RIP-relative (broadcast to all 16 lanes).
//!
//! Registers are numbers: `zmm0..zmm31`, general-purpose `0..15` in the
//! hardware order (`rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15`) and
//! mask registers `k0..k7`.

/// `rax`: the byte offset of the current vector.
pub const RAX: u8 = 0;
// The loop also uses rcx (tail mask), rdx (full vectors left) and rsi
// (the element count, second argument), encoded directly.
/// `rdi`: the pointer table (first argument).
pub const RDI: u8 = 7;
/// `r11`: the pointer an operand is read from or written to.
pub const R11: u8 = 11;

/// A memory operand.
#[derive(Clone, Copy, Debug)]
pub enum Mem {
    /// `[base + index]`.
    BaseIndex { base: u8, index: u8 },
    /// `[base + disp]`.
    BaseDisp { base: u8, disp: i32 },
    /// Constant `k` of the pool (RIP-relative), broadcast when used as an
    /// operand of arithmetic.
    Const(usize),
}

/// The register-or-memory operand of an instruction.
#[derive(Clone, Copy, Debug)]
pub enum Rm {
    Zmm(u8),
    Mem(Mem),
}

/// An EVEX opcode (W0, 512-bit): map (`1` = 0F, `2` = 0F38, `3` = 0F3A),
/// mandatory prefix (`0` none, `1` 66, `2` F3, `3` F2) and opcode byte;
/// `scalar` when its memory operand is one f32 (then constants are read
/// plainly, not broadcast by the instruction).
#[derive(Clone, Copy, Debug)]
pub struct Op {
    map: u8,
    pp: u8,
    code: u8,
    scalar: bool,
}

const fn op(map: u8, pp: u8, code: u8) -> Op {
    Op {
        map,
        pp,
        code,
        scalar: false,
    }
}

pub const VMOVUPS_LOAD: Op = op(1, 0, 0x10);
pub const VMOVUPS_STORE: Op = op(1, 0, 0x11);
pub const VMOVAPS: Op = op(1, 0, 0x28);
pub const VMOVNTPS: Op = op(1, 0, 0x2B);
pub const VSQRTPS: Op = op(1, 0, 0x51);
pub const VADDPS: Op = op(1, 0, 0x58);
pub const VMULPS: Op = op(1, 0, 0x59);
pub const VSUBPS: Op = op(1, 0, 0x5C);
pub const VMINPS: Op = op(1, 0, 0x5D);
pub const VDIVPS: Op = op(1, 0, 0x5E);
pub const VMAXPS: Op = op(1, 0, 0x5F);
pub const VCMPPS: Op = op(1, 0, 0xC2);
pub const VPANDD: Op = op(1, 1, 0xDB);
pub const VPXORD: Op = op(1, 1, 0xEF);
pub const VPORD: Op = op(1, 1, 0xEB);
pub const VBROADCASTSS: Op = Op {
    scalar: true,
    ..op(2, 1, 0x18)
};
pub const VSCALEFPS: Op = op(2, 1, 0x2C);
pub const VBLENDMPS: Op = op(2, 1, 0x65);
pub const VFMADD213PS: Op = op(2, 1, 0xA8);
pub const VFNMADD231PS: Op = op(2, 1, 0xBC);

/// Machine code being assembled, with its constant pool.
#[derive(Default)]
pub struct Asm {
    code: Vec<u8>,
    consts: Vec<u32>,
    /// `(position of a disp32, end of its instruction, constant)`.
    fixups: Vec<(usize, usize, usize)>,
}

impl Asm {
    /// The pool index of the 32-bit constant `bits` (added once).
    pub fn constant(&mut self, bits: u32) -> Mem {
        let k = match self.consts.iter().position(|&c| c == bits) {
            Some(k) => k,
            None => {
                self.consts.push(bits);
                self.consts.len() - 1
            }
        };
        Mem::Const(k)
    }

    /// Position of the next byte.
    pub fn here(&self) -> usize {
        self.code.len()
    }

    fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }

    /// Emits an EVEX instruction: `reg` is the ModRM reg field (a
    /// register or an opcode extension), `vvvv` the second source (0 when
    /// unused), `rm` the last operand; `mask` the opmask (`k0`: none),
    /// `zero` zeroing-masking; memory constants are broadcast unless the
    /// op reads a scalar.
    #[allow(clippy::too_many_arguments)]
    pub fn evex(
        &mut self,
        op: Op,
        reg: u8,
        vvvv: u8,
        rm: Rm,
        mask: u8,
        zero: bool,
        imm: Option<u8>,
    ) {
        let bit = |v: u8, b: u8| (v >> b) & 1;
        let (b, x, bcst) = match rm {
            Rm::Zmm(r) => (bit(r, 3), bit(r, 4), false),
            Rm::Mem(Mem::BaseIndex { base, index }) => (bit(base, 3), bit(index, 3), false),
            Rm::Mem(Mem::BaseDisp { base, .. }) => (bit(base, 3), 0, false),
            Rm::Mem(Mem::Const(_)) => (0, 0, !op.scalar),
        };
        let p0 = ((1 - bit(reg, 3)) << 7)
            | ((1 - x) << 6)
            | ((1 - b) << 5)
            | ((1 - bit(reg, 4)) << 4)
            | op.map;
        let p1 = ((!vvvv & 0xF) << 3) | 0b100 | op.pp;
        let p2 = ((zero as u8) << 7)
            | (0b10 << 5)
            | ((bcst as u8) << 4)
            | ((1 - bit(vvvv, 4)) << 3)
            | (mask & 7);
        self.bytes(&[0x62, p0, p1, p2, op.code]);
        self.modrm(reg, rm, imm.map_or(0, |_| 1));
        if let Some(i) = imm {
            self.bytes(&[i]);
        }
    }

    /// ModRM (+ SIB, displacement) for `reg` and `rm`; `after` bytes of
    /// immediate follow the displacement.
    fn modrm(&mut self, reg: u8, rm: Rm, after: usize) {
        let r = (reg & 7) << 3;
        match rm {
            Rm::Zmm(z) => self.bytes(&[0xC0 | r | (z & 7)]),
            Rm::Mem(Mem::BaseIndex { base, index }) => {
                assert!(base & 7 != 5 && index != 4, "unsupported [base + index]");
                self.bytes(&[r | 0b100, ((index & 7) << 3) | (base & 7)]);
            }
            Rm::Mem(Mem::BaseDisp { base, disp }) => {
                assert!(base & 7 != 4, "unsupported [base + disp]");
                self.bytes(&[0x80 | r | (base & 7)]);
                self.bytes(&disp.to_le_bytes());
            }
            Rm::Mem(Mem::Const(k)) => {
                self.bytes(&[r | 0b101]);
                let at = self.here();
                self.bytes(&[0; 4]);
                self.fixups.push((at, at + 4 + after, k));
            }
        }
    }

    /// `dst = op(a, b)` for a three-operand vector instruction.
    pub fn v3(&mut self, op: Op, dst: u8, a: u8, b: Rm) {
        self.evex(op, dst, a, b, 0, false, None);
    }

    /// `dst = a` (register copy).
    pub fn mov(&mut self, dst: u8, a: u8) {
        if dst != a {
            self.evex(VMOVAPS, dst, 0, Rm::Zmm(a), 0, false, None);
        }
    }

    /// `dst = [mem]` as 16 floats; with `mask` the other lanes are zeroed
    /// and not read (no fault past the end).
    pub fn load(&mut self, dst: u8, mem: Mem, mask: u8) {
        self.evex(VMOVUPS_LOAD, dst, 0, Rm::Mem(mem), mask, mask != 0, None);
    }

    /// `prefetcht0 [base + index + disp]`: asks for the cache line there
    /// (never faults, whatever the address).
    pub fn prefetch(&mut self, base: u8, index: u8, disp: i32) {
        assert!(index != 4, "unsupported index register");
        let rex = 0x40 | ((index >> 3) << 1) | (base >> 3);
        if rex != 0x40 {
            self.bytes(&[rex]);
        }
        self.bytes(&[
            0x0F,
            0x18,
            0x80 | (1 << 3) | 0b100,
            ((index & 7) << 3) | (base & 7),
        ]);
        self.bytes(&disp.to_le_bytes());
    }

    /// `[mem] = src` with a non-temporal hint (the line goes to memory
    /// without being read into the cache first). `mem` must be 64-byte
    /// aligned; the stores are ordered only by a later [`Asm::sfence`].
    pub fn store_streaming(&mut self, mem: Mem, src: u8) {
        self.evex(VMOVNTPS, src, 0, Rm::Mem(mem), 0, false, None);
    }

    /// `sfence`: earlier non-temporal stores become visible before any
    /// later store.
    pub fn sfence(&mut self) {
        self.bytes(&[0x0F, 0xAE, 0xF8]);
    }

    /// `[mem] = src`, only the lanes of `mask` when it is not `k0`.
    pub fn store(&mut self, mem: Mem, src: u8, mask: u8) {
        self.evex(VMOVUPS_STORE, src, 0, Rm::Mem(mem), mask, false, None);
    }

    /// `dst = [mem]` (one f32) in all 16 lanes.
    pub fn broadcast(&mut self, dst: u8, mem: Mem) {
        self.evex(VBROADCASTSS, dst, 0, Rm::Mem(mem), 0, false, None);
    }

    /// `k = a <pred> b` (lanes of `mask` only; others cleared).
    pub fn cmp(&mut self, k: u8, a: u8, b: Rm, pred: u8, mask: u8) {
        self.evex(VCMPPS, k, a, b, mask, false, Some(pred));
    }

    /// `dst = k ? b : a`.
    pub fn blend(&mut self, dst: u8, k: u8, a: u8, b: u8) {
        self.evex(VBLENDMPS, dst, a, Rm::Zmm(b), k, false, None);
    }

    /// `mov r, [rdi + 8 * slot]`: pointer `slot` of the argument table.
    pub fn load_ptr(&mut self, r: u8, slot: usize) {
        let disp = (8 * slot) as i32;
        let rex = 0x48 | ((r >> 3) << 2);
        self.bytes(&[rex, 0x8B, 0x80 | ((r & 7) << 3) | RDI]);
        self.bytes(&disp.to_le_bytes());
    }

    /// The loop prologue: `rax = 0; rdx = n / 16`, then a jump to the
    /// tail when there is no full vector. Returns the jump to patch.
    pub fn loop_start(&mut self) -> usize {
        self.bytes(&[0x31, 0xC0]); // xor eax, eax
        self.bytes(&[0x48, 0x89, 0xF2]); // mov rdx, rsi
        self.bytes(&[0x48, 0xC1, 0xEA, 0x04]); // shr rdx, 4
        self.bytes(&[0x0F, 0x84]); // jz rel32
        let at = self.here();
        self.bytes(&[0; 4]);
        at
    }

    /// The loop epilogue: `rax += 64; rdx -= 1`, back to `top` while
    /// vectors remain.
    pub fn loop_end(&mut self, top: usize) {
        self.bytes(&[0x48, 0x83, 0xC0, 0x40]); // add rax, 64
        self.bytes(&[0x48, 0xFF, 0xCA]); // dec rdx
        self.bytes(&[0x0F, 0x85]); // jnz rel32
        let rel = top as i64 - (self.here() as i64 + 4);
        self.bytes(&(rel as i32).to_le_bytes());
    }

    /// Points the jump at `at` (from [`Asm::loop_start`]) here.
    pub fn patch_jump(&mut self, at: usize) {
        let rel = (self.here() - (at + 4)) as i32;
        self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
    }

    /// `k = (1 << (n % 16)) - 1`, then a jump to the end when it is empty.
    /// Returns the jump to patch.
    pub fn tail_mask(&mut self, k: u8) -> usize {
        self.bytes(&[0x89, 0xF1]); // mov ecx, esi
        self.bytes(&[0x83, 0xE1, 0x0F]); // and ecx, 15
        self.bytes(&[0x0F, 0x84]); // jz rel32
        let at = self.here();
        self.bytes(&[0; 4]);
        self.bytes(&[0xBA, 1, 0, 0, 0]); // mov edx, 1
        self.bytes(&[0xD3, 0xE2]); // shl edx, cl
        self.bytes(&[0xFF, 0xCA]); // dec edx
        self.bytes(&[0xC5, 0xF8, 0x92, 0xC2 | ((k & 7) << 3)]); // kmovw k, edx
        at
    }

    /// `vzeroupper; ret`.
    pub fn ret(&mut self) {
        self.bytes(&[0xC5, 0xF8, 0x77, 0xC3]);
    }

    /// The finished image: code, then the constants (64-byte aligned),
    /// with every constant reference resolved.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.code.len().is_multiple_of(64) {
            self.code.push(0xCC); // int3: never executed
        }
        let base = self.code.len();
        for (at, end, k) in std::mem::take(&mut self.fixups) {
            let rel = (base + 4 * k) as i64 - end as i64;
            self.code[at..at + 4].copy_from_slice(&(rel as i32).to_le_bytes());
        }
        for c in &self.consts {
            self.code.extend_from_slice(&c.to_le_bytes());
        }
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instruction's text, how to emit it, and its expected bytes.
    type Case = (&'static str, Box<dyn Fn(&mut Asm)>, Vec<u8>);

    /// Encodings checked against `objdump -d` (GNU binutils), covering the
    /// high registers (EVEX R', V', X bits), masks, zeroing, broadcasts
    /// and each addressing form.
    #[test]
    fn instructions_encode_as_the_disassembler_reads_them() {
        let at = Mem::BaseIndex {
            base: R11,
            index: RAX,
        };
        let cases: Vec<Case> = vec![
            (
                "vaddps zmm17, zmm20, zmm30",
                Box::new(|a| a.v3(VADDPS, 17, 20, Rm::Zmm(30))),
                vec![0x62, 0x81, 0x5c, 0x40, 0x58, 0xce],
            ),
            (
                "vmovups zmm25{k1}{z}, [r11+rax]",
                Box::new(move |a| a.load(25, at, 1)),
                vec![0x62, 0x41, 0x7c, 0xc9, 0x10, 0x0c, 0x03],
            ),
            (
                "vcmpgt_oqps k3, zmm18, zmm29",
                Box::new(|a| a.cmp(3, 18, Rm::Zmm(29), 0x1E, 0)),
                vec![0x62, 0x91, 0x6c, 0x40, 0xc2, 0xdd, 0x1e],
            ),
            (
                "vblendmps zmm16{k2}, zmm24, zmm31",
                Box::new(|a| a.blend(16, 2, 24, 31)),
                vec![0x62, 0x82, 0x3d, 0x42, 0x65, 0xc7],
            ),
            (
                "vmovups [r11+rax]{k1}, zmm22",
                Box::new(move |a| a.store(at, 22, 1)),
                vec![0x62, 0xc1, 0x7c, 0x49, 0x11, 0x34, 0x03],
            ),
            (
                "vbroadcastss zmm27, [r11+0]",
                Box::new(|a| a.broadcast(27, Mem::BaseDisp { base: R11, disp: 0 })),
                vec![0x62, 0x42, 0x7d, 0x48, 0x18, 0x9b, 0, 0, 0, 0],
            ),
            (
                "vfnmadd231ps zmm26, zmm17, zmm9",
                Box::new(|a| a.v3(VFNMADD231PS, 26, 17, Rm::Zmm(9))),
                vec![0x62, 0x42, 0x75, 0x40, 0xbc, 0xd1],
            ),
            (
                "vscalefps zmm3, zmm18, zmm30",
                Box::new(|a| a.v3(VSCALEFPS, 3, 18, Rm::Zmm(30))),
                vec![0x62, 0x92, 0x6d, 0x40, 0x2c, 0xde],
            ),
            (
                "vmovntps [r9+rax], zmm19",
                Box::new(|a| {
                    let m = Mem::BaseIndex {
                        base: 9,
                        index: RAX,
                    };
                    a.store_streaming(m, 19)
                }),
                vec![0x62, 0xc1, 0x7c, 0x48, 0x2b, 0x1c, 0x01],
            ),
            (
                "prefetcht0 [r8+rax+0x800]",
                Box::new(|a| a.prefetch(8, RAX, 0x800)),
                vec![0x41, 0x0f, 0x18, 0x8c, 0x00, 0x00, 0x08, 0, 0],
            ),
            (
                "prefetcht0 [r11+rax-4]",
                Box::new(|a| a.prefetch(R11, RAX, -4)),
                vec![0x41, 0x0f, 0x18, 0x8c, 0x03, 0xfc, 0xff, 0xff, 0xff],
            ),
            ("sfence", Box::new(|a| a.sfence()), vec![0x0f, 0xae, 0xf8]),
            (
                "mov r11, [rdi+24]",
                Box::new(|a| a.load_ptr(R11, 3)),
                vec![0x4c, 0x8b, 0x9f, 0x18, 0, 0, 0],
            ),
        ];
        for (what, emit, want) in cases {
            let mut a = Asm::default();
            emit(&mut a);
            assert_eq!(a.code, want, "{what}");
        }
    }

    #[test]
    fn constants_are_pooled_after_the_code_and_addressed_from_rip() {
        let mut a = Asm::default();
        let one = a.constant(1f32.to_bits());
        a.v3(VADDPS, 0, 0, Rm::Mem(one));
        let again = a.constant(1f32.to_bits());
        a.v3(VMULPS, 1, 1, Rm::Mem(again));
        let code = a.finish();
        // Two 10-byte instructions, padding to 64, then one constant.
        assert_eq!(code.len(), 68);
        assert_eq!(&code[64..], &1f32.to_bits().to_le_bytes());
        for (end, disp_at) in [(10usize, 6usize), (20, 16)] {
            let disp = i32::from_le_bytes(code[disp_at..disp_at + 4].try_into().unwrap());
            assert_eq!(end as i32 + disp, 64, "RIP-relative target of the constant");
            // Broadcast bit set: the constant is read once for all lanes.
            assert_eq!(code[disp_at - 3] & 0x10, 0x10);
        }
    }
}
