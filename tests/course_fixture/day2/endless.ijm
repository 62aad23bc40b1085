// Never ends
i = 0;
while (true) {
    i = i + 1;
}
