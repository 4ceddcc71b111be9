; Enables the PS/2 mouse through the 8042 (interrupts off, polled) and prints every byte it sends, in hex, on COM1
; and the screen.
bits 16
org 0x7c00
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
drain:
    in al, 0x64
    test al, 1
    jz drained
    in al, 0x60
    jmp drain
drained:
    mov al, 0xa8            ; enable the auxiliary port
    call command
    mov al, 0xd4            ; next data byte to the mouse
    call command
    mov al, 0xf4            ; enable data reporting
    call wait_input
    out 0x60, al
    mov si, ready
print_ready:
    lodsb
    test al, al
    jz poll
    call putc
    jmp print_ready
poll:
    in al, 0x64
    test al, 1
    jz poll
    mov ah, al
    in al, 0x60
    test ah, 0x20           ; a byte from the mouse, not the keyboard
    jz poll
    push ax
    shr al, 4
    call nibble
    pop ax
    and al, 0x0f
    call nibble
    mov al, ' '
    call putc
    jmp poll
command:
    call wait_input
    out 0x64, al
    ret
wait_input:
    push ax
.busy:
    in al, 0x64
    test al, 2
    jnz .busy
    pop ax
    ret
nibble:
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 7
putc:
    push ax
    mov dx, 0x3f8
    out dx, al
    mov ah, 0x0e
    mov bx, 7
    int 0x10
    pop ax
    ret
ready: db "MOUSE-READY", 13, 10, 0
times 510-($-$$) db 0
dw 0xaa55
