/* Undoes vec_ops.h, so that it can be included again for the next element type. */
#undef VEC
#undef VSUF
#undef VOP
#undef VZERO
#undef VSET1
#undef VLOADU
#undef VSTOREU
#undef VSTORE
#undef VADD
#undef VSUB
#undef VMUL
#undef VMAX
#undef VMIN
#undef VFMA
#undef VINT_BITS
