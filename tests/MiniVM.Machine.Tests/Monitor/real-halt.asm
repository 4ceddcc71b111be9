; Boot sector for MonitorQemuComparisonTests (nasm -f bin real-halt.asm): halts in real mode with IF=0, so `x /i`
; disassembles 16-bit code; at 0x7c10, instructions it never runs, for the comparison with QEMU's monitor.
bits 16
org 0x7c00
    cli
halt:
    hlt
    jmp halt
    align 16
instructions:                           ; 0x7c10
    mov ax, 0x1234                      ; immediates and operand sizes
    mov eax, 0x12345678
    mov word [bx], 0xffff
    and ax, -2
    sub ax, -1
    push 0x12
    push -1
    mov [bx+si+0x10], ax                ; memory forms
    mov cx, [bp-8]
    mov ax, [bp+di-0x80]
    mov ax, [0xfffe]
    mov eax, [ebx+esi*4]
    lea ax, [bx+di]
    mov ax, [es:bx]                     ; segment overrides
    mov dx, [cs:si+4]
    mov al, [ss:bp]
    mov al, [ds:bp+2]
    call $+0x80                         ; jumps and calls
    jmp $-0x20
    jz $+0x40
    jmp short $+2
    call [bx+4]
    jmp ax
    jmp 0xf000:0xe05b
    call dword 0x1234:0x5678
    call far [bx]
    ret
    retf 2
    iret
    loop $
    rep movsw                           ; string instructions
    cmpsw
    lodsb
    xchg ax, cx
    int 0x13
    in al, dx
    out 0x80, al
    enter 8, 0
    lgdt [0x7c80]
    les bx, [0x40]
    times 510 - ($ - $$) db 0
    dw 0xaa55
