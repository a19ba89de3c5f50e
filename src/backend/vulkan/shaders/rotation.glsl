// cos and sin of a RoPE angle. sin and cos are only accurate near zero on some devices: the angle
// is first reduced to [-pi, pi], with 2*pi split in two parts so that the reduction adds little
// error (Cody-Waite).
vec2 cos_sin(float angle) {
  const float TWO_PI_HIGH = 6.28125;
  const float TWO_PI_LOW = 1.9353071795864769e-3;
  float turns = round(angle * 0.15915494309189535);
  float reduced = fma(-turns, TWO_PI_LOW, fma(-turns, TWO_PI_HIGH, angle));
  return vec2(cos(reduced), sin(reduced));
}
