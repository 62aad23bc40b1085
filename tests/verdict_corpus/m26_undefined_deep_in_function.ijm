// an undefined variable three calls deep, after some processing
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
run("Invert");

function innermost(a) {
    return a + threshhold;
}
function middle(a) {
    return innermost(a * 2);
}
function outer(a) {
    x = middle(a);
    return x;
}
print(outer(3));
